"""The k nearest chunks a reader may read, from a real Chroma on disk and a real SQLite manifest: however small
or large the share of the index the reader may read, k readable chunks (the nearest ones), never an unreadable
one, whichever way they are found (reading deeper into the unfiltered ranking, or Chroma's own `where`)."""

from __future__ import annotations

from pathlib import Path

import chromadb
import numpy as np
import pytest
from chromadb.config import Settings as ChromaSettings

from rag.config import Settings
from rag.index.keyword import KeywordIndex
from rag.index.vectors import VectorStore, group_meta
from rag.retrieval.retriever import Retriever

N, DIM, K = 3000, 32, 50


def groups_of(i: int) -> tuple[str, ...]:
    """Chunk i's document's groups: "big" half the chunks, "mid" a tenth, "rare" 1%; "both" on some of "big"."""
    g = ("big",) if i % 2 == 0 else ("mid",) if i % 10 == 1 else ("rare",) if i % 100 == 3 else ("other",)
    return g + (("both",) if i % 50 == 0 else ())


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Retriever, np.ndarray]:
    path: Path = tmp_path_factory.mktemp("index")
    client = chromadb.PersistentClient(path=str(path / "chroma"), settings=ChromaSettings(anonymized_telemetry=False))
    vectors = VectorStore(client, "access-vectors", "test-model")
    keywords = KeywordIndex(path / "keyword.sqlite")
    rng = np.random.default_rng(7)
    vecs = rng.standard_normal((N, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = [f"c{i}" for i in range(N)]
    for b in range(0, N, 1000):
        part = range(b, b + 1000)
        vectors.upsert(
            ids[b : b + 1000], vecs[b : b + 1000], [{"source": f"s{i}"} | group_meta(groups_of(i)) for i in part]
        )
    with keywords.transaction():  # one document per chunk, recorded with its groups as an ingest records them
        for i in range(N):
            keywords.add(f"s{i}", "t", [(ids[i], f"chunk {i}")])
            keywords.put_record(f"s{i}", "sha", "t", None, 1, (), groups_of(i))
    settings = Settings(_env_file=None, data_dir=path)  # type: ignore[call-arg]
    return Retriever(settings, None, vectors, keywords), vecs  # type: ignore[arg-type]


def readable_mask(allowed: set[str]) -> np.ndarray:
    return np.array([bool(set(groups_of(i)) & allowed) for i in range(N)])


@pytest.mark.parametrize("allowed", [{"big"}, {"mid"}, {"rare"}, {"mid", "rare"}, {"both"}, {"nobody-here"}])
@pytest.mark.parametrize("vector_filter", ["adaptive", "where"])
def test_k_nearest_readable(index: tuple[Retriever, np.ndarray], allowed: set[str], vector_filter: str) -> None:
    retriever, vecs = index
    retriever.vector_filter = vector_filter
    readable = readable_mask(allowed)
    rng = np.random.default_rng(1)
    try:
        for _ in range(5):
            q = rng.standard_normal(DIM).astype(np.float32)
            q /= np.linalg.norm(q)
            got = retriever.nearest(q, K, frozenset(allowed))
            want = min(K, int(readable.sum()))
            assert len(got) == want  # full, whatever the share
            idx = [int(cid[1:]) for cid, _ in got]
            assert readable[idx].all()
            exact = set(np.argsort(-np.where(readable, vecs @ q, -9))[:want].tolist())
            assert len(exact & set(idx)) >= 0.9 * want  # HNSW is approximate; the filter is not
            assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
    finally:
        retriever.vector_filter = "adaptive"


def test_the_adaptive_search_reads_deeper_rather_than_falling_short(index: tuple[Retriever, np.ndarray]) -> None:
    """ "mid" is a tenth of the chunks: the first 4k read hold about 0.4k of them, so a full k needs a deeper read."""
    retriever, vecs = index
    q = vecs[1]  # a "mid" chunk's own vector: its neighbours are of every group
    got = retriever.nearest(q, 3 * K, frozenset({"mid"}))
    assert len(got) == 3 * K and got[0][0] == "c1"


def test_reading_by_id_checks_each_chunk(index: tuple[Retriever, np.ndarray]) -> None:
    retriever, _ = index
    ids = [f"c{i}" for i in range(40)]
    chunks, vecs = retriever.vectors.get(ids, with_vectors=True, allowed=frozenset({"mid"}))
    assert [c.chunk_id for c in chunks] == [f"c{i}" for i in range(40) if "mid" in groups_of(i)]
    assert vecs is not None and len(vecs) == len(chunks)
    assert retriever.vectors.get(ids, allowed=frozenset()) == ([], None)
    assert retriever.keywords.readable(ids, frozenset({"mid"})) == {c.chunk_id for c in chunks}
