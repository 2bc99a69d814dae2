"""Retrieval: vector search, keyword (BM25) search, their fusion, and a relevance floor."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from rag.config import Settings
from rag.embeddings import Embedder
from rag.keyword import KeywordIndex
from rag.store import StoredChunk, VectorStore

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "vector", "keyword"]


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk: where it is in its document and how relevant it looked."""

    chunk_id: str
    source: str
    name: str
    title: str
    start: int
    end: int
    text: str
    score: float  # cosine similarity of passage and question, -1..1
    line: int | None = None
    page: int | None = None
    date: str | None = None

    @classmethod
    def from_stored(cls, chunk: StoredChunk, score: float) -> Passage:
        m = chunk.meta
        return cls(
            chunk_id=chunk.chunk_id,
            source=m["source"],
            name=m.get("name", m["source"]),
            title=m.get("title", ""),
            start=int(m["start"]),
            end=int(m["end"]),
            text=chunk.text,
            score=round(float(score), 4),
            line=m.get("line"),
            page=m.get("page"),
            date=m.get("date"),
        )

    @property
    def where(self) -> str:
        parts = [f"chars {self.start}-{self.end}"]
        if self.page:
            parts.insert(0, f"page {self.page}")
        elif self.line:
            parts.insert(0, f"line {self.line}")
        return ", ".join(parts)


@dataclass
class Retrieval:
    passages: list[Passage]
    ms: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


def rrf(rankings: list[list[str]], weights: list[float], k: int = 60) -> list[tuple[str, float]]:
    """Weighted reciprocal-rank fusion: sum of w / (k + rank) over the lists an id appears in."""
    scores: dict[str, float] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        for rank, cid in enumerate(ranking, start=1):
            scores[cid] = scores.get(cid, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: kv[1], reverse=True)


class Retriever:
    def __init__(self, settings: Settings, embedder: Embedder, vectors: VectorStore, keywords: KeywordIndex) -> None:
        self.settings = settings
        self.embedder = embedder
        self.vectors = vectors
        self.keywords = keywords

    def search(
        self, question: str, top_k: int | None = None, mode: Mode | None = None, floor: float | None = None
    ) -> list[Passage]:
        """The top_k most relevant passages, best first; those under the relevance floor are dropped."""
        k = top_k or self.settings.top_k
        mode = mode or self.settings.retrieval_mode
        floor = self.settings.min_similarity if floor is None else floor
        qvec = self.embedder.embed([question])[0]
        pool = max(50, 4 * k)
        if mode == "keyword":
            ids = [cid for cid, _ in self.keywords.search(question, pool)]
            scored = self._with_similarity(ids[:k], qvec)
        elif mode == "vector":
            scored = [(c, s) for c, s in self.vectors.query(qvec, k)]
        else:
            dense = self.vectors.query(qvec, pool)
            sparse = [cid for cid, _ in self.keywords.search(question, pool)]
            fused = rrf([[c.chunk_id for c, _ in dense], sparse], [1.0, 1.0])
            top_ids = [cid for cid, _ in fused[:k]]
            known = {c.chunk_id: (c, s) for c, s in dense}
            missing = [cid for cid in top_ids if cid not in known]
            known.update({c.chunk_id: (c, s) for c, s in self._with_similarity(missing, qvec)})
            scored = [known[cid] for cid in top_ids if cid in known]
        return [Passage.from_stored(c, s) for c, s in scored if s >= floor]

    def _with_similarity(self, ids: list[str], qvec: np.ndarray) -> list[tuple[StoredChunk, float]]:
        if not ids:
            return []
        chunks, vecs = self.vectors.get(ids, with_vectors=True)
        assert vecs is not None
        by_id = {c.chunk_id: (c, float(v @ qvec)) for c, v in zip(chunks, vecs, strict=True)}
        return [by_id[i] for i in ids if i in by_id]
