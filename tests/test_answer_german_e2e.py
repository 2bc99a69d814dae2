"""A German question answered in German, for real (issue 21): the local Qwen2.5 model served by llama.cpp, a
German document and the English seed article ingested together, the question asked through the answer step
the API uses. The answer must be in German, cited to the German passage that states the fact, with the quoted
sentence located in the document, and checked: its claims compared with their evidence word by word in
German (not skipped as cross-language), nothing withheld.

The local model takes minutes per answer on a busy 2-core machine: nothing is timed. Set RAG_LOCAL_LLM_PORT
to share a model server already running (`rag model serve`); otherwise the test starts one of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.answering.verify import MARKER
from rag.config import Settings
from rag.index.embeddings import MiniLMEmbedder
from rag.llm.local import LocalServer
from rag.pipeline import Pipeline, build
from rag.text import detect_language
from tests.conftest import ROOT, SEEDS, free_port

GERMAN_DOCS = Path(__file__).parent / "data" / "de"
QUESTION = "Seit wann ist der Sächsische Garten für die Öffentlichkeit zugänglich?"
FACT = "1727"
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, embedder: MiniLMEmbedder) -> Iterator[Pipeline]:
    data = tmp_path_factory.mktemp("german")
    port = int(os.environ.get("RAG_LOCAL_LLM_PORT") or free_port())
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=data,
        local_llm_port=port,
        llm_base_url=None,
        llm_api_key=None,
        prompts_dir=ROOT / "prompts",  # this checkout's templates, whatever seedrag is installed
    )
    assert settings.uses_local_llm
    server = LocalServer(settings, Path(data) / "llm.log")
    server.start()
    pipe = build(settings, embedder=embedder)
    pipe.ingestor.ingest([GERMAN_DOCS, SEEDS])
    yield pipe
    pipe.close()
    server.stop()  # only if this test started it


def test_a_german_question_is_answered_in_german_cited_and_checked(pipeline: Pipeline) -> None:
    answer = pipeline.answerer.ask(QUESTION)
    checks = answer.checks
    assert not answer.refused, (answer.answer, checks)
    assert "withheld" not in checks, checks
    assert FACT in answer.answer, answer.answer

    # In German: the question's language, named in the prompt, and the checks read it as German.
    assert detect_language(MARKER.sub("", answer.answer)) == "de", answer.answer
    assert checks["language"] == "de"

    # Cited to the German passage that states the fact, the quoted sentence located in the document.
    assert answer.citations, answer.answer
    german = {p.resolve() for p in GERMAN_DOCS.iterdir()}
    for n, p in answer.citations:
        assert Path(p.source).resolve() in german, p.source
        assert f"[{n}]" in answer.answer
    n, p = next((n, p) for n, p in answer.citations if FACT in p.text)
    source = Path(p.source).read_text(encoding="utf-8")
    start, end = answer.quotes[n]
    assert p.start <= start < end <= p.end and FACT in source[start:end], source[start:end]

    # Checked: every claim shown passed the word checks in German, none skipped as cross-language.
    shown = [c for c in checks["claims"] if c["text"] is not None]
    assert shown and len(shown) == len(answer.claims)
    for c in shown:
        assert c["languages"] == {"question": "de", "claim": "de", "evidence": "de"}, c
        assert c["skipped"] == [] and c["lexical"] is not None and c["lexical"] >= 0.5, c
        assert c["numbers"] == [] and c["missing"] == [], c
