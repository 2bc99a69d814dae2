"""Two `rag serve` replicas on one shared index: a real PostgreSQL (keyword index, manifest, writer lock,
uploaded originals, feedback), a real `chroma run` (vectors), each replica with its own empty data dir, and the fake
OpenAI-compatible server over HTTP for both the answers and the embeddings (it counts every text embedded)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.config import Settings
from rag.pipeline import Pipeline, build
from tests.fakes.openai_server import FakeOpenAI
from tests.postgres import PostgresServer
from tests.servers import SECRET, RagServe, chroma_run, rag_serve, serve_env

POLICY = (
    b"# Expense policy\n\nTravel expenses above 500 euros need approval from the finance director. "
    b"Receipts must be submitted within 30 days of the trip.\n"
)
POLICY_QUESTION = "Who approves travel expenses above 500 euros?"
NOTES = b"# Office notes\n\nThe office closes at 6 pm on Fridays, and the car park opens at 7 am on weekdays.\n"
NOTES_QUESTION = "When does the office close on Fridays?"


@dataclass
class Cluster:
    env: dict[str, str]  # what every replica shares: database, Chroma server, collection, LLM, embeddings
    tmp: Path
    a: RagServe
    b: RagServe
    llm: FakeOpenAI

    def replica_env(self, name: str) -> dict[str, str]:
        return {**self.env, "RAG_DATA_DIR": str(self.tmp / name / "data")}

    def settings(self) -> Settings:
        """The shared index as any process sees it, to check it from the test."""
        env = self.replica_env("checker")
        return Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=Path(env["RAG_DATA_DIR"]),
            database_url=env["RAG_DATABASE_URL"],
            chroma_url=env["RAG_CHROMA_URL"],
            collection=env["RAG_COLLECTION"],
            embedding_backend="openai",
            llm_base_url=self.llm.base_url,
            llm_api_key=SECRET,  # type: ignore[arg-type]
        )


@pytest.fixture(scope="module")
def cluster(
    postgres_server: PostgresServer, fake_llm_server: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("replicas")
    with chroma_run(tmp / "chroma") as chroma_url:
        env = serve_env(
            tmp / "unused",
            fake_llm_server.base_url,
            RAG_DATABASE_URL=postgres_server.new_database(),
            RAG_CHROMA_URL=chroma_url,
            RAG_COLLECTION="replicas",
            RAG_EMBEDDING_BACKEND="openai",
            RAG_MIN_SIMILARITY="0",  # the fake's hashed word vectors are not a sentence model's
            RAG_EMBED_BATCH_SIZE="1",  # ingest stores every 32 chunks: a kill can land between two steps
        )
        cluster = Cluster(env, tmp, None, None, fake_llm_server)  # type: ignore[arg-type]
        for name in ("a", "b"):
            (tmp / name).mkdir()
        # Started together: two replicas creating the shared schema at once is part of the test.
        with (
            rag_serve(cluster.replica_env("a"), tmp / "a", tmp / "a.log") as a,
            rag_serve(cluster.replica_env("b"), tmp / "b", tmp / "b.log") as b,
        ):
            cluster.a, cluster.b = a, b
            yield cluster


@pytest.fixture
def shared(cluster: Cluster, fake_llm: FakeOpenAI) -> Iterator[Pipeline]:
    pipe = build(cluster.settings(), llm=None)
    yield pipe
    pipe.close()


def upload(server: RagServe, *files: tuple[str, bytes]) -> list[dict[str, Any]]:
    r = httpx.post(f"{server.url}/v1/documents", files=[("files", f) for f in files], timeout=120)
    assert r.status_code == 200, r.text
    return r.json()["results"]  # type: ignore[no-any-return]


def listed(server: RagServe) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in httpx.get(f"{server.url}/v1/documents", timeout=30).json()["documents"]}


def ask(server: RagServe, question: str) -> dict[str, Any]:
    r = httpx.post(f"{server.url}/v1/ask", json={"question": question}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def spans(answer: dict[str, Any]) -> list[tuple[Any, ...]]:
    out = []
    for c in answer["citations"]:
        quote = c["quote"] or {}
        out.append((c["source"], c["chunk_id"], c["start"], c["end"], quote.get("start"), quote.get("end")))
    return out


def assert_consistent(pipe: Pipeline) -> None:
    """Every manifest document has all its chunks in Chroma and in the keyword index; no chunk is orphaned."""
    records = {r.source: r for r in pipe.keywords.records()}
    for source, record in records.items():
        vector_ids, keyword_ids = pipe.vectors.ids_for(source), pipe.keywords.chunk_ids(source)
        assert len(vector_ids) == record.chunks and vector_ids == keyword_ids, source
    assert pipe.vectors.all_sources() <= set(records), "vectors of a document the manifest does not know"
    assert pipe.keywords.sources_with_chunks() <= set(records), "keyword rows of a document the manifest does not know"


def test_an_upload_on_one_replica_is_answered_by_the_other_with_the_same_citation(
    cluster: Cluster, shared: Pipeline
) -> None:
    added = upload(cluster.a, ("policy.md", POLICY))
    assert added[0]["status"] == "added" and added[0]["source"] == "uploads/policy.md"  # no replica's disk in it
    on_a, on_b = ask(cluster.a, POLICY_QUESTION), ask(cluster.b, POLICY_QUESTION)
    assert on_b["citations"] and on_b["citations"][0]["source"] == "uploads/policy.md"
    assert spans(on_b) == spans(on_a) and on_b["citations"][0]["quote"], on_b
    assert listed(cluster.a)["policy.md"] == listed(cluster.b)["policy.md"]

    # B never saw the file, yet serves the original the citation's spans point into.
    cited = on_b["citations"][0]
    original = httpx.get(f"{cluster.b.url}/v1/documents/{listed(cluster.b)['policy.md']['id']}/original", timeout=30)
    assert original.status_code == 200 and original.content == POLICY
    text = original.content.decode()
    assert text[cited["start"] : cited["end"]] == cited["text"]
    assert text[cited["quote"]["start"] : cited["quote"]["end"]] == cited["quote"]["text"]
    assert not (cluster.tmp / "b" / "data" / "uploads" / "policy.md").exists()
    assert not (cluster.tmp / "a" / "data" / "uploads" / "policy.md").exists()  # nothing kept on A's disk either
    # The same name uploaded again on the other replica is the same document, not a second one.
    assert upload(cluster.b, ("policy.md", POLICY))[0]["status"] == "unchanged"
    assert_consistent(shared)


def test_a_delete_on_one_replica_disappears_from_both(cluster: Cluster, shared: Pipeline) -> None:
    assert upload(cluster.b, ("notes.md", NOTES))[0]["status"] == "added"
    assert spans(ask(cluster.a, NOTES_QUESTION))[0][0] == "uploads/notes.md"
    doc = listed(cluster.a)["notes.md"]

    r = httpx.delete(f"{cluster.a.url}/v1/documents/{doc['id']}", timeout=30)
    assert r.status_code == 200 and r.json()["removed"]["chunks"] == 1
    for server in (cluster.a, cluster.b):
        assert "notes.md" not in listed(server)
        assert all(s[0] != "uploads/notes.md" for s in spans(ask(server, NOTES_QUESTION)))
        assert httpx.get(f"{server.url}/v1/documents/{doc['id']}/original", timeout=30).status_code == 404
        assert httpx.delete(f"{server.url}/v1/documents/{doc['id']}", timeout=30).status_code == 404
    assert_consistent(shared)


def test_a_vote_on_one_replica_is_listed_by_the_other(cluster: Cluster) -> None:
    answer_id = ask(cluster.a, POLICY_QUESTION)["answer_id"]
    vote = {"answer_id": answer_id, "rating": "not_helpful", "comment": "cite the page", "user": "replica-test"}
    assert httpx.post(f"{cluster.b.url}/v1/feedback", json=vote, timeout=30).status_code == 200
    for server in (cluster.a, cluster.b):
        listed_votes = httpx.get(f"{server.url}/v1/feedback", timeout=30).json()["feedback"]
        # A vote belongs to the caller first, then to the name it gives: "anonymous/replica-test" (issue 19, 4).
        mine = [v for v in listed_votes if v["user"].endswith("/replica-test")]
        assert [(v["rating"], v["comment"], v["question"]) for v in mine] == [
            ("not_helpful", "cite the page", POLICY_QUESTION)
        ]


def corpus(folder: Path, files: int, paragraphs: int, tag: str) -> Path:
    """Files whose paragraphs are all different, so every chunk's text is embedded for one chunk only."""
    folder.mkdir(parents=True)
    topics = ["pipelines", "tariffs", "refineries", "turbines", "storage", "contracts"]
    for f in range(files):
        text = "\n\n".join(
            f"{tag} file {f} section {i}. The {topics[(f + i) % 6]} report lists {f * 1000 + i * 7} projects, "
            f"{i * 3 + f} delays and a budget of {i * 11 + f} million euros, reviewed by team {tag}{f}{i}."
            for i in range(paragraphs)
        )
        (folder / f"{tag}-{f}.md").write_text(f"# {tag} report {f}\n\n{text}\n", encoding="utf-8")
    return folder


def test_concurrent_ingests_of_one_folder_embed_each_chunk_once(
    cluster: Cluster, shared: Pipeline, fake_llm: FakeOpenAI
) -> None:
    folder = corpus(cluster.tmp / "folder", files=6, paragraphs=12, tag="conc")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "rag", "ingest", str(folder)],
            env=cluster.replica_env(name),
            cwd=cluster.tmp / name,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in ("a", "b")
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    sources = {str(p) for p in folder.iterdir()}
    records = [r for r in shared.keywords.records() if r.source in sources]
    assert len(records) == 6
    chunks, _ = shared.retriever.read(sorted(set().union(*(shared.vectors.ids_for(s) for s in sources))))
    assert len(chunks) == sum(r.chunks for r in records) > 12
    # Each chunk was embedded exactly once between the two replicas, and nothing else was.
    assert fake_llm.embedded == Counter(c.text for c in chunks), outputs
    # One of them did the work; the other waited for the lock and found every file already indexed.
    assert sorted("6 added" in out for out in outputs) == [False, True], outputs
    assert any("6 unchanged" in out for out in outputs), outputs
    assert_consistent(shared)


def test_kill_9_mid_ingest_then_the_other_replica_completes_it(
    cluster: Cluster, shared: Pipeline, fake_llm: FakeOpenAI
) -> None:
    folder = corpus(cluster.tmp / "killed", files=4, paragraphs=100, tag="kill")
    files = [(p.name, p.read_bytes()) for p in sorted(folder.iterdir())]
    (cluster.tmp / "c").mkdir()
    doomed = RagServe(cluster.replica_env("c"), cluster.tmp / "c", cluster.tmp / "c.log").wait_healthy()
    fake_llm.embed_delay = 0.4  # each step of 32 chunks takes this long to embed: time to kill mid-way

    def send() -> None:
        with contextlib.suppress(httpx.TransportError):  # its request dies with the replica
            httpx.post(f"{doomed.url}/v1/documents", files=[("files", f) for f in files], timeout=60)

    sent = threading.Thread(target=send, daemon=True)
    try:
        sent.start()
        deadline = time.monotonic() + 60
        while fake_llm.embed_requests < 3:  # two steps embedded (and being stored), the third under way
            assert time.monotonic() < deadline and doomed.proc.poll() is None, doomed.log.read_text()
            time.sleep(0.02)
    finally:
        doomed.kill()
    sent.join(10)

    sources = [f"uploads/{name}" for name, _ in files]
    # A write the dead replica had already sent still lands on the Chroma server: wait until nothing moves.
    stored: set[str] = set()
    while (now := set().union(*shared.vectors.ids_by_source(sources).values())) != stored:
        stored = now
        time.sleep(0.5)
    assert stored, "the killed replica stored some chunks before it died"
    assert not all(shared.keywords.record(s) for s in sources), "it was killed before it finished"

    fake_llm.embed_delay = 0.0
    fake_llm.embedded.clear()
    results = upload(cluster.b, *files)  # the user sends the same files again, to the replica that is up
    assert [r["status"] for r in results] == ["added"] * 4, results
    assert_consistent(shared)
    everything = set().union(*shared.vectors.ids_by_source(sources).values())
    assert stored < everything and len(everything) == sum(r["chunks"] for r in results)
    # What the killed replica had stored was kept; only the rest was embedded, once.
    missing, _ = shared.retriever.read(sorted(everything - stored))
    assert fake_llm.embedded == Counter(c.text for c in missing)
    assert sum(r["embedded"] for r in results) == len(everything - stored)
    # Every original is there in the version the index holds, read through the replica that never had it.
    for name, data in files:
        doc = listed(cluster.a)[name]
        assert httpx.get(f"{cluster.a.url}/v1/documents/{doc['id']}/original", timeout=30).content == data
