"""The whole pipeline on the shared backend (RAG_DATABASE_URL): built by rag.pipeline.build against a real
PostgreSQL, the keyword index and Chroma stay in step through ingest, change, prune, removal and an
interrupted ingest, as tests/test_keyword_sync.py checks for the embedded one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from rag.config import Settings
from rag.eval.retrieval import evaluate, load_beir
from rag.index.embeddings import Embedder, MiniLMEmbedder
from rag.index.locking import AdvisoryLock
from rag.index.postgres import PgKeywordIndex
from rag.index.vectors import StoreUnavailable
from rag.pipeline import Pipeline, build
from tests.test_eval import TINY
from tests.test_keyword_sync import FailingEmbedder, _docs, chroma_ids, top_source, topics, write


def chroma(path: Path) -> Any:
    """A Chroma on disk standing in for the server every replica would share (its client is what differs)."""
    return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))


def shared(settings: Settings, url: str, embedder: Embedder, chroma_path: Path) -> Pipeline:
    settings = settings.model_copy(update={"database_url": url})
    return build(settings, embedder=embedder, chroma_client=chroma(chroma_path))


def assert_in_step(pipe: Pipeline) -> set[str]:
    ids = chroma_ids(pipe)
    assert set(pipe.keywords.chunk_sources()) == ids
    assert pipe.keywords.count() == pipe.vectors.count() == len(ids)
    return ids


def test_database_url_without_a_chroma_server_is_refused(settings: Settings, embedder: MiniLMEmbedder) -> None:
    with pytest.raises(StoreUnavailable, match="set RAG_CHROMA_URL"):
        build(settings.model_copy(update={"database_url": "postgresql://127.0.0.1:9/none"}), embedder=embedder)


def test_unreachable_database_is_a_clear_error(settings: Settings, embedder: MiniLMEmbedder, tmp_path: Path) -> None:
    url = "postgresql://someone:secret@127.0.0.1:9/none"
    with pytest.raises(StoreUnavailable, match="cannot reach PostgreSQL at 127.0.0.1:9/none") as e:
        shared(settings, url, embedder, tmp_path / "chroma")
    assert "secret" not in str(e.value)


def test_shared_backend_keeps_keywords_and_vectors_in_step(
    settings: Settings, embedder: MiniLMEmbedder, tmp_path: Path, postgres_url: str
) -> None:
    folder = write(tmp_path / "docs", 12)
    pipe = shared(settings, postgres_url, embedder, tmp_path / "chroma")
    assert isinstance(pipe.keywords, PgKeywordIndex) and isinstance(pipe.ingestor.lock, AdvisoryLock)
    assert not list(settings.data_dir.glob("keyword-*")), "no SQLite index beside the shared one"
    pipe.ingestor.ingest([folder])
    assert len(assert_in_step(pipe)) > 3
    orchard = str((folder / "orchard.md").resolve())

    text = topics(12)["orchard.md"].replace(
        "Apple tree 5 in the orchard was pruned in February by the gardener.",
        "A beehive of wild honey bees now stands where apple tree 5 was felled.",
    )
    (folder / "orchard.md").write_text(text, encoding="utf-8")
    report = pipe.ingestor.ingest([folder])
    assert report.count("updated") == 1 and report.count("unchanged") == 2
    assert_in_step(pipe)
    assert top_source(pipe, "beehive honey bees felled") == orchard

    (folder / "harbour.txt").unlink()
    assert pipe.ingestor.ingest([folder], prune=True).count("removed") == 1
    assert_in_step(pipe)
    assert pipe.keywords.search("herring harbour fishing boat", 10) == []
    pipe.ingestor.remove(orchard)
    assert_in_step(pipe)
    assert top_source(pipe, "turbine blades westerly wind").endswith("turbines.md")
    assert pipe.retriever.search("which turbine turns its blades in a westerly wind?", floor=-1)
    pipe.close()

    # A second replica (a new process on another machine) sees the same manifest and index.
    other = shared(settings, postgres_url, embedder, tmp_path / "chroma")
    assert [r.source for r in other.keywords.records()] == [str((folder / "turbines.md").resolve())]
    assert other.ingestor.ingest([folder]).count("unchanged") == 1
    other.close()


def test_interrupted_ingest_on_the_shared_backend_is_completed_by_the_next(
    settings: Settings, embedder: MiniLMEmbedder, tmp_path: Path, postgres_url: str
) -> None:
    folder = write(tmp_path / "docs", 110)
    settings = settings.model_copy(update={"chunk_tokens": 16, "chunk_overlap": 0, "embed_batch_size": 8})
    first = shared(settings, postgres_url, embedder, tmp_path / "chroma")
    total = sum(len(first.ingestor.chunk(d)) for d in _docs(folder))
    first.close()
    assert total > 256

    dying = shared(settings, postgres_url, FailingEmbedder(embedder, budget=256), tmp_path / "chroma")  # type: ignore[arg-type]
    with pytest.raises(KeyboardInterrupt):
        dying.ingestor.ingest([folder])
    stored, keyword = chroma_ids(dying), set(dying.keywords.chunk_sources())
    assert 0 < len(stored) < total and keyword <= stored
    for source in {r.source for r in dying.keywords.records()}:
        assert dying.keywords.chunk_ids(source) == dying.vectors.ids_for(source)
    dying.close()

    again = shared(settings, postgres_url, embedder, tmp_path / "chroma")
    report = again.ingestor.ingest([folder])
    assert_in_step(again)
    assert again.vectors.count() == total and report.embedded == total - len(stored)
    again.close()


def test_rag_eval_ranks_the_same_with_the_keyword_side_in_postgres(
    settings: Settings, embedder: MiniLMEmbedder, postgres_url: str, tmp_path: Path
) -> None:
    data = load_beir(TINY, "test")
    for mode in ("keyword", "hybrid"):
        mode_settings = settings.model_copy(update={"retrieval_mode": mode})
        lite = evaluate(data, mode_settings, embedder, progress=False)
        pg = evaluate(data, mode_settings.model_copy(update={"database_url": postgres_url}), embedder, progress=False)
        assert pg.run == lite.run and pg.metrics == lite.metrics, mode
        assert pg.index["chunks_embedded"] == 0, "the vectors on disk are the SQLite run's, reused"

    # The eval's vectors gone with its data dir (here: another, empty one), PostgreSQL still holding its manifest:
    # embedded afresh rather than taken as unchanged.
    fresh = settings.model_copy(update={"database_url": postgres_url, "data_dir": tmp_path / "elsewhere"})
    again = evaluate(data, fresh, embedder, progress=False)
    assert again.index["chunks_embedded"] == again.index["chunks"] == 10
    assert again.metrics["ndcg@10"] == 1.0
