"""GET/POST/DELETE /v1/documents over real HTTP: uploads stored safely and ingested, limits, and ingestion
running while questions are answered."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from rag.ingest.uploads import safe_name
from rag.pipeline import Pipeline
from tests.api_support import QUESTION, serve_api
from tests.conftest import SEEDS, LiveServer

POLICY = (
    b"# Expense policy\n\nTravel expenses above 500 euros need approval from the finance director. "
    b"Receipts must be submitted within 30 days of the trip.\n"
)
POLICY_QUESTION = "Who approves travel expenses above 500 euros?"


@pytest.fixture
def api(pipeline: Pipeline) -> Iterator[LiveServer]:
    pipeline.ingestor.ingest([SEEDS])
    with serve_api(pipeline) as server:
        yield server


def upload(server: LiveServer, *files: tuple[str, bytes]) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/documents", files=[("files", f) for f in files], timeout=60)


def listed(server: LiveServer) -> dict[str, dict[str, object]]:
    return {d["name"]: d for d in httpx.get(f"{server.url}/v1/documents").json()["documents"]}


def test_upload_list_ask_and_delete(api: LiveServer, pipeline: Pipeline) -> None:
    r = upload(
        api,
        ("policy.md", POLICY),
        ("notes.txt", b"The office closes at 6 pm on Fridays."),
        ("empty.txt", b"   \n"),
        ("photo.jpg", b"\xff\xd8\xff"),
    )
    assert r.status_code == 200, r.text
    results = {x["filename"]: x for x in r.json()["results"]}
    assert [x["filename"] for x in r.json()["results"]] == ["policy.md", "notes.txt", "empty.txt", "photo.jpg"]
    assert results["policy.md"]["status"] == "added" and results["policy.md"]["chunks"] == 1
    assert results["policy.md"]["embedded"] == 1
    assert results["notes.txt"]["status"] == "added"
    assert results["empty.txt"] == {**results["empty.txt"], "status": "skipped", "reason": "empty file", "source": ""}
    assert results["photo.jpg"]["status"] == "skipped" and "unsupported type '.jpg'" in results["photo.jpg"]["reason"]
    uploads = pipeline.settings.uploads_dir
    assert sorted(p.name for p in uploads.iterdir() if not p.name.startswith(".")) == ["notes.txt", "policy.md"]
    assert not any((uploads / ".staging").iterdir())  # nothing left half-way

    docs = listed(api)
    policy = docs["policy.md"]
    source = str((uploads / "policy.md").resolve())
    # The API shows a path relative to the server's working directory, here (a temporary data dir) the name.
    assert policy["source"] == "policy.md" and policy["title"] == "Expense policy" and policy["chunks"] == 1
    assert policy["id"] == hashlib.sha256(source.encode()).hexdigest()[:16]
    assert docs["000_e525b34afe8532cd.txt"]["chunks"] == 5 and docs["000_e525b34afe8532cd.txt"]["date"]

    answer = httpx.post(f"{api.url}/v1/ask", json={"question": POLICY_QUESTION}, timeout=30).json()
    assert answer["citations"] and answer["citations"][0]["source"] == "policy.md"

    assert upload(api, ("policy.md", POLICY)).json()["results"][0]["status"] == "unchanged"
    changed = upload(api, ("policy.md", POLICY + b"\nMeals are covered up to 40 euros a day.\n"))
    assert changed.json()["results"][0]["status"] == "updated"

    r = httpx.delete(f"{api.url}/v1/documents/{policy['id']}")
    assert r.status_code == 200, r.text
    assert r.json() == {"removed": {"id": policy["id"], "source": "policy.md", "chunks": 1}}
    assert "policy.md" not in listed(api) and not (uploads / "policy.md").exists()
    gone = httpx.delete(f"{api.url}/v1/documents/{policy['id']}")
    assert gone.status_code == 404 and gone.json()["error"]["type"] == "not_found"
    # A document ingested from elsewhere leaves the index but its file is not ours to delete.
    seed = docs["000_e525b34afe8532cd.txt"]
    assert httpx.delete(f"{api.url}/v1/documents/{seed['id']}").json()["removed"]["chunks"] == 5
    assert (SEEDS / "000_e525b34afe8532cd.txt").exists()


def test_upload_names_cannot_escape_the_uploads_folder(api: LiveServer, pipeline: Pipeline, tmp_path: Path) -> None:
    names = ["../../escape.md", "..\\..\\windows.md", "/etc/absolute.md", ".hidden.md", "a/b/c.md", "na:me?.md"]
    r = upload(api, *[(n, f"Text number {i} about gas pipelines.".encode()) for i, n in enumerate(names)])
    assert r.status_code == 200, r.text
    stored = [x["name"] for x in r.json()["results"]]
    assert stored == ["escape.md", "windows.md", "absolute.md", "hidden.md", "c.md", "na_me_.md"]
    assert all(x["status"] == "added" for x in r.json()["results"])
    uploads = pipeline.settings.uploads_dir.resolve()
    for x in r.json()["results"]:
        assert x["source"] == x["name"] and (uploads / x["name"]).is_file()
    assert not (tmp_path / "escape.md").exists() and not Path("/etc/absolute.md").exists()
    dots = upload(api, ("..", b"x"), ("../", b"x")).json()["results"]
    assert [d["status"] for d in dots] == ["skipped", "skipped"]


def test_safe_name() -> None:
    assert safe_name("bad\x00na\x1fme\x7f.md") == "bad_na_me_.md"
    assert safe_name("...") == "upload" and safe_name("") == "upload"
    long = safe_name("é" * 300 + ".pdf")
    assert long.endswith(".pdf") and len(long.encode()) <= 200


def test_a_rejected_new_version_keeps_the_old_one(api: LiveServer, pipeline: Pipeline) -> None:
    assert upload(api, ("policy.md", POLICY)).json()["results"][0]["status"] == "added"
    r = upload(api, ("policy.md", b"\xff\xfe not utf-8 \xff"))
    result = r.json()["results"][0]
    assert result["status"] == "skipped" and "UTF-8" in result["reason"]
    assert (pipeline.settings.uploads_dir / "policy.md").read_bytes() == POLICY  # still what the index holds
    assert listed(api)["policy.md"]["chunks"] == 1


def test_an_uploaded_original_is_served_in_the_version_the_index_holds(api: LiveServer) -> None:
    assert upload(api, ("policy.md", POLICY)).json()["results"][0]["status"] == "added"
    answer = httpx.post(f"{api.url}/v1/ask", json={"question": POLICY_QUESTION}, timeout=30).json()
    cited = answer["citations"][0]
    policy = listed(api)["policy.md"]
    r = httpx.get(f"{api.url}/v1/documents/{policy['id']}/original")
    assert r.status_code == 200 and r.content == POLICY
    assert r.headers["content-disposition"] == "attachment; filename*=UTF-8''policy.md"
    text = r.content.decode()
    assert text[cited["start"] : cited["end"]] == cited["text"]
    assert text[cited["quote"]["start"] : cited["quote"]["end"]] == cited["quote"]["text"]
    # A refused new version leaves the old original; a document ingested from a folder has none to serve.
    assert upload(api, ("policy.md", b"\xff\xfe")).json()["results"][0]["status"] == "skipped"
    assert httpx.get(f"{api.url}/v1/documents/{policy['id']}/original").content == POLICY
    seed = listed(api)["000_e525b34afe8532cd.txt"]
    missing = httpx.get(f"{api.url}/v1/documents/{seed['id']}/original")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
    httpx.delete(f"{api.url}/v1/documents/{policy['id']}")
    assert httpx.get(f"{api.url}/v1/documents/{policy['id']}/original").status_code == 404


def test_upload_limits_and_missing_files(pipeline: Pipeline) -> None:
    with serve_api(pipeline, max_upload_mb=0.05) as server:
        url = f"{server.url}/v1/documents"
        r = upload(server, ("big.txt", b"word " * 20_000))  # 100 KB, with Content-Length
        assert r.status_code == 413 and r.json()["error"]["type"] == "too_large"
        assert "0.05 MB" in r.json()["error"]["message"] and "RAG_MAX_UPLOAD_MB" in r.json()["error"]["message"]

        def chunked() -> Iterator[bytes]:  # the same, sent chunked: no Content-Length to refuse up front
            yield b'--b\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\n\r\n'
            for _ in range(100):
                yield b"word " * 200
            yield b"\r\n--b--\r\n"

        r = httpx.post(url, content=chunked(), headers={"content-type": "multipart/form-data; boundary=b"})
        assert r.status_code == 413 and r.json()["error"]["type"] == "too_large"
        uploads = pipeline.settings.uploads_dir
        assert not uploads.exists() or not [p for p in uploads.rglob("*") if p.is_file()]

        small = upload(server, ("small.txt", b"A small file about gas."))
        assert small.status_code == 200 and small.json()["results"][0]["status"] == "added"
        for r in (httpx.post(url), httpx.post(url, data={"other": "x"}), httpx.post(url, json={"files": []})):
            assert r.status_code == 400 and "parts named 'files'" in r.json()["error"]["message"]


def test_ingesting_while_answering_keeps_the_index_consistent(
    api: LiveServer, pipeline: Pipeline, tmp_path: Path
) -> None:
    # About 60 chunks to embed: long enough that the questions below overlap it.
    topics = ["pipelines", "tariffs", "refineries", "turbines", "storage", "contracts"]
    paragraphs = [
        f"Section {i}. The {topics[i % 6]} report for quarter {i % 4 + 1} lists {i * 7} projects, "
        f"{i * 3} delays and a budget of {i * 11} million euros, reviewed by team {i % 9}. " * 3
        for i in range(50)
    ]
    big = "\n\n".join(paragraphs).encode()
    results: dict[str, object] = {}

    def do_upload() -> None:
        results["upload"] = upload(api, ("report.txt", big))
        results["upload_done"] = time.monotonic()

    uploader = threading.Thread(target=do_upload)
    uploader.start()
    time.sleep(0.2)

    def ask(i: int) -> tuple[int, float]:
        r = httpx.post(f"{api.url}/v1/ask", json={"question": QUESTION}, timeout=60)
        return (r.status_code if r.json().get("citations") else -r.status_code), time.monotonic()

    with ThreadPoolExecutor(4) as pool:
        asked = list(pool.map(ask, range(12)))
    uploader.join(60)
    assert [status for status, _ in asked] == [200] * 12
    up = results["upload"]
    assert isinstance(up, httpx.Response) and up.status_code == 200, up
    report = up.json()["results"][0]
    assert report["status"] == "added" and report["chunks"] == report["embedded"] >= 30, report
    assert min(t for _, t in asked) < float(results["upload_done"])  # type: ignore[arg-type]  # they overlapped
    manifest = sum(d["chunks"] for d in httpx.get(f"{api.url}/v1/documents").json()["documents"])
    assert pipeline.vectors.count() == pipeline.keywords.count() == manifest == 5 + report["chunks"]
    found = httpx.post(f"{api.url}/v1/ask", json={"question": "What does the refineries report list?"}, timeout=30)
    assert any(c["name"] == "report.txt" for c in found.json()["passages"])
