"""The default path for real: no API key, the local Qwen2.5 model served by llama.cpp, the seed article."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.config import Settings
from rag.embeddings import MiniLMEmbedder
from rag.llm import LocalServer
from rag.pipeline import Pipeline, build
from tests.conftest import SEEDS, free_port


@pytest.fixture(scope="module")
def local_pipeline(tmp_path_factory: pytest.TempPathFactory, embedder: MiniLMEmbedder) -> Iterator[Pipeline]:
    data = tmp_path_factory.mktemp("local")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=data, local_llm_port=free_port(), llm_base_url=None, llm_api_key=None
    )
    assert settings.uses_local_llm, "no OPENAI_* in the test environment: the default is the local model"
    server = LocalServer(settings, Path(data) / "llm.log")
    server.start()
    pipe = build(settings, embedder=embedder)
    pipe.ingestor.ingest([SEEDS])
    yield pipe
    server.stop()


def test_local_model_answers_a_seed_question_with_valid_citations(local_pipeline: Pipeline) -> None:
    answer = local_pipeline.answerer.ask("What does Serbia want to import from Azerbaijan?")
    assert not answer.refused, answer.answer
    assert "gas" in answer.answer.lower() or "oil" in answer.answer.lower()
    assert answer.citations
    for n, p in answer.citations:
        assert f"[{n}]" in answer.answer
        assert Path(p.source).read_text(encoding="utf-8")[p.start : p.end] == p.text


def test_local_model_refuses_what_the_article_does_not_say(local_pipeline: Pipeline) -> None:
    answer = local_pipeline.answerer.ask("What is the population of Serbia?")
    assert answer.refused, answer.answer
    assert answer.citations == []


SEED_QUESTIONS = [json.loads(line) for line in (Path(__file__).parent / "data" / "seed_questions.jsonl").open()]


@pytest.mark.parametrize("case", SEED_QUESTIONS, ids=[c["question"][:48] for c in SEED_QUESTIONS])
def test_seed_questions_are_answered_with_the_fact_or_refused(local_pipeline: Pipeline, case: dict) -> None:
    """Twelve plain questions about the seed article: ten answered, each with a citation that holds the fact
    and a quote located in the document; two it does not answer, refused."""
    answer = local_pipeline.answerer.ask(case["question"])
    if not case["fact"]:
        assert answer.refused, (answer.answer, answer.checks)
        assert answer.citations == []
        return
    assert not answer.refused, (answer.answer, answer.checks)
    assert answer.citations, answer.answer
    for fact in case["fact"]:
        assert fact in answer.answer.lower(), answer.answer
    for n, p in answer.citations:
        source = Path(p.source).read_text(encoding="utf-8")
        assert source[p.start : p.end] == p.text
        assert any(fact in p.text.lower() for fact in case["fact"]), p.text
        start, end = answer.quotes[n]
        assert p.start <= start < end <= p.end and source[start:end] in p.text
