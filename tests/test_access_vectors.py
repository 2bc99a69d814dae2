"""The k nearest chunks a reader may read, from a real Chroma on disk: however small or large the share of the
collection the reader may read, k readable chunks (the nearest ones), never an unreadable one, whichever way
the store finds them (reading deeper into the unfiltered ranking, or Chroma's own `where`)."""

from __future__ import annotations

from pathlib import Path

import chromadb
import numpy as np
import pytest
from chromadb.config import Settings as ChromaSettings

from rag.index.vectors import VectorStore, group_meta

N, DIM, K = 3000, 32, 50


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[VectorStore, np.ndarray, list[str]]:
    path: Path = tmp_path_factory.mktemp("chroma")
    client = chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
    vectors = VectorStore(client, "access-vectors", "test-model")
    rng = np.random.default_rng(7)
    vecs = rng.standard_normal((N, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    # Shares: "big" half the chunks, "mid" a tenth, "rare" 1%, "both" on a few chunks of "big" too.
    groups = []
    for i in range(N):
        g = ["big"] if i % 2 == 0 else ["mid"] if i % 10 == 1 else ["rare"] if i % 100 == 3 else ["other"]
        groups.append(g + (["both"] if i % 50 == 0 else []))
    ids = [f"c{i}" for i in range(N)]
    for b in range(0, N, 1000):
        vectors.upsert(
            ids[b : b + 1000],
            vecs[b : b + 1000],
            [{"source": f"s{i}"} | group_meta(groups[i]) for i in range(b, b + 1000)],
        )
    return vectors, vecs, [",".join(g) for g in groups]


@pytest.mark.parametrize("allowed", [{"big"}, {"mid"}, {"rare"}, {"mid", "rare"}, {"both"}, {"nobody-here"}])
@pytest.mark.parametrize("filtered_by", ["adaptive", "where"])
def test_k_nearest_readable(
    store: tuple[VectorStore, np.ndarray, list[str]], allowed: set[str], filtered_by: str
) -> None:
    vectors, vecs, groups = store
    vectors.filtered_by = filtered_by
    rng = np.random.default_rng(1)
    readable = np.array([bool(set(g.split(",")) & allowed) for g in groups])
    for _ in range(5):
        q = rng.standard_normal(DIM).astype(np.float32)
        q /= np.linalg.norm(q)
        got = vectors.nearest(q, K, frozenset(allowed))
        want = min(K, int(readable.sum()))
        assert len(got) == want
        idx = [int(cid[1:]) for cid, _ in got]
        assert readable[idx].all()
        sims = vecs @ q
        exact = set(np.argsort(-np.where(readable, sims, -9))[:want].tolist())
        assert len(exact & set(idx)) >= 0.9 * want  # HNSW is approximate; the filter is not
        assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)
    vectors.filtered_by = "adaptive"


def test_reading_by_id_checks_each_chunk(store: tuple[VectorStore, np.ndarray, list[str]]) -> None:
    vectors, _, groups = store
    ids = [f"c{i}" for i in range(40)]
    chunks, vecs = vectors.get(ids, with_vectors=True, allowed=frozenset({"mid"}))
    assert [c.chunk_id for c in chunks] == [f"c{i}" for i in range(40) if "mid" in groups[i].split(",")]
    assert vecs is not None and len(vecs) == len(chunks)
    assert vectors.get(ids, allowed=frozenset()) == ([], None)
