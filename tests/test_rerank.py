"""The optional reranker, against a fake server that speaks the common /rerank shape over real HTTP."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.config import Settings
from rag.eval.retrieval import evaluate, format_report, load_beir
from rag.index.embeddings import MiniLMEmbedder
from rag.pipeline import Pipeline, build
from rag.retrieval.rerank import Reranker, RerankError, make_reranker
from tests.fakes.rerank_server import FakeReranker, Score, word_overlap

QUESTION = "Which pipeline brings gas to Europe?"
DOCS = {
    "tap.txt": "The Trans Adriatic Pipeline brings gas from the Caspian Sea to Italy through Greece and Albania.",
    "nord.txt": "Nord Stream pipelines under the Baltic Sea carried Russian gas to Germany until 2022.",
    "lng.txt": "Liquefied natural gas arrives in Europe by ship at terminals in Spain, France and the Netherlands.",
    "coal.txt": "Coal mines in Silesia still supply power plants in Poland.",
}
TINY = Path(__file__).parent / "data" / "beir_tiny"


@pytest.fixture(scope="module")
def reranker_server() -> Iterator[FakeReranker]:
    with FakeReranker() as fake:
        yield fake


@pytest.fixture
def reranker(reranker_server: FakeReranker) -> FakeReranker:
    reranker_server.status, reranker_server.requests, reranker_server.score = None, [], word_overlap
    reranker_server.raw = None
    return reranker_server


def favour(word: str) -> Score:
    """A reranker that ranks the documents holding `word` first, whatever the question."""
    return lambda query, doc: 1.0 if word in doc else 0.0


def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def built(settings: Settings, embedder: MiniLMEmbedder, folder: Path) -> Pipeline:
    pipe = build(settings, embedder=embedder)
    pipe.ingestor.ingest([folder])
    return pipe


def test_reranker_reorders_the_fused_candidates_before_top_k(
    settings: Settings, embedder: MiniLMEmbedder, reranker: FakeReranker, tmp_path: Path
) -> None:
    folder = corpus(tmp_path)
    plain = built(settings, embedder, folder)
    before = [p.name for p in plain.retriever.search(QUESTION, top_k=2, floor=-1)]
    plain.close()
    assert "coal.txt" not in before  # the fused top 2 are about gas

    reranker.score = favour("Coal")
    ranked = settings.model_copy(update={"rerank_url": reranker.url, "rerank_model": "bge-reranker-v2-m3"})
    pipe = built(ranked, embedder, folder)
    after = pipe.retriever.search(QUESTION, top_k=2, floor=-1)
    pipe.close()
    assert after[0].name == "coal.txt" and after[1].name == before[0]
    # The request in the common shape: every fused candidate (4 < rerank_candidates), and the model's name.
    (sent,) = reranker.requests
    assert sent["query"] == QUESTION and sent["model"] == "bge-reranker-v2-m3" and sent["top_n"] == 4
    assert sorted(sent["documents"]) == sorted(DOCS.values())
    # The passages keep their own cosine score: the relevance floor still means what it says.
    assert -1 <= after[0].score <= 1


def test_only_the_first_candidates_are_reranked(
    settings: Settings, embedder: MiniLMEmbedder, reranker: FakeReranker, tmp_path: Path
) -> None:
    pipe = built(
        settings.model_copy(update={"rerank_url": reranker.url, "rerank_candidates": 2}), embedder, corpus(tmp_path)
    )
    ranked = pipe.retriever.ranked_ids(QUESTION, 4)
    pipe.close()
    (sent,) = reranker.requests
    assert len(sent["documents"]) == 2 and len(ranked) == 4


def test_a_failing_reranker_leaves_the_fused_order_and_says_so(
    settings: Settings,
    embedder: MiniLMEmbedder,
    reranker: FakeReranker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = corpus(tmp_path)
    plain = built(settings, embedder, folder)
    expected = plain.retriever.ranked_ids(QUESTION, 4)
    plain.close()
    reranker.status = 500
    pipe = built(settings.model_copy(update={"rerank_url": reranker.url}), embedder, folder)
    with caplog.at_level(logging.WARNING):
        got = pipe.retriever.ranked_ids(QUESTION, 4)
    pipe.close()
    assert got == expected and pipe.retriever.rerank_failures == 1
    assert f"reranker at {reranker.url} answered HTTP 500" in caplog.text and "using the fused order" in caplog.text


@pytest.mark.parametrize(
    "reply",
    [
        b'{"results": [{"index": 1e999, "relevance_score": 1}]}',  # OverflowError in int()
        b'{"results": [{"index": 0, "relevance_score": 1e999}]}',  # an infinite score
        b'{"results": [{"index": true, "relevance_score": 1}]}',
        b'{"results": [{"index": "0", "relevance_score": 1}]}',
        b'{"results": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # RecursionError in the JSON reader
        b'{"results": [[1, 2]]}',
        b"null",
    ],
    ids=["huge-index", "infinite-score", "bool-index", "string-index", "deep", "list-item", "null"],
)
def test_a_reranker_reply_of_any_shape_leaves_the_fused_order(
    settings: Settings, embedder: MiniLMEmbedder, reranker: FakeReranker, tmp_path: Path, reply: bytes
) -> None:
    folder = corpus(tmp_path)
    plain = built(settings, embedder, folder)
    expected = plain.retriever.ranked_ids(QUESTION, 4)
    plain.close()
    reranker.raw = reply
    pipe = built(settings.model_copy(update={"rerank_url": reranker.url}), embedder, folder)
    got = pipe.retriever.ranked_ids(QUESTION, 4)
    pipe.close()
    assert got == expected and pipe.retriever.rerank_failures == 1
    with pytest.raises(RerankError, match="answered in an unknown shape"):
        Reranker(reranker.url).scores("q", ["a", "b"])


def test_reranker_errors_name_the_server_and_cause(reranker: FakeReranker) -> None:
    with pytest.raises(RerankError, match="answered HTTP 404"):
        Reranker(reranker.url.replace("/v1/rerank", "/nope")).scores("q", ["a"])
    with pytest.raises(RerankError, match="is unreachable"):
        Reranker("http://127.0.0.1:9/v1/rerank", timeout=2).scores("q", ["a"])
    assert Reranker(reranker.url).scores("pipeline europe", ["europe pipeline", "coal", "europe"]) == [1.0, 0.0, 0.5]


def test_without_the_setting_nothing_changes(settings: Settings, embedder: MiniLMEmbedder) -> None:
    assert settings.rerank_url is None and make_reranker(settings) is None
    pipe = build(settings, embedder=embedder)
    assert pipe.retriever.reranker is None
    pipe.close()


def test_eval_reports_with_and_without_the_reranker(
    settings: Settings, embedder: MiniLMEmbedder, reranker: FakeReranker
) -> None:
    reranker.score = favour("sourdough")  # a bad reranker: bread first, always
    data = load_beir(TINY, "test")
    result = evaluate(data, settings.model_copy(update={"rerank_url": reranker.url}), embedder, progress=False)
    assert all(ranking[0] == "bread" for ranking in result.run.values())
    assert result.metrics["mrr@10"] == pytest.approx(0.5)  # every right answer pushed to rank 2
    assert result.extra["without_reranker"]["metrics"]["mrr@10"] == 1.0
    report = format_report(result)
    assert f"reranked (30 candidates) by {reranker.url}" in report
    assert "MRR@10 0.5000" in report and "without the reranker: nDCG@10 1.0000" in report
