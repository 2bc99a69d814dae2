"""Retrieval: vector search, keyword (BM25) search, their fusion, and a relevance floor.

A reader (rag/access.py) is enforced inside every step, never after: the vector query, both keyword queries
and the feedback's second search are filtered by the groups it may read, and a chunk read by id is read only
if it may. So the top k are the best k it may read, and nothing of another document is ever loaded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from rag.access import Reader
from rag.config import Settings
from rag.index.embeddings import Embedder
from rag.index.keyword import KeywordStore, query_terms
from rag.index.vectors import StoredChunk, VectorStore
from rag.retrieval.expansion import expansion_terms, rocchio
from rag.retrieval.rerank import Reranker, RerankError

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
    page_label: str | None = None  # "slide 4", "sheet 'Budget'": where a deck or workbook names its pages

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
            page_label=m.get("page_label"),
        )

    @property
    def where(self) -> str:
        parts = [f"chars {self.start}-{self.end}"]
        if self.page:
            parts.insert(0, self.page_label or f"page {self.page}")
        elif self.line:
            parts.insert(0, f"line {self.line}")
        return ", ".join(parts)


def rrf(rankings: list[list[str]], weights: list[float], k: int = 60) -> list[tuple[str, float]]:
    """Weighted reciprocal-rank fusion: sum of w / (k + rank) over the lists an id appears in."""
    scores: dict[str, float] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        for rank, cid in enumerate(ranking, start=1):
            scores[cid] = scores.get(cid, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: kv[1], reverse=True)


def convex(scored: list[list[tuple[str, float]]], weights: list[float]) -> list[tuple[str, float]]:
    """Weighted sum of min-max normalised scores; an id missing from a list gets that list's minimum (0)."""
    scores: dict[str, float] = {}
    for items, w in zip(scored, weights, strict=True):
        if not items:
            continue
        lo, hi = min(s for _, s in items), max(s for _, s in items)
        span = hi - lo or 1.0
        for cid, s in items:
            scores[cid] = scores.get(cid, 0.0) + w * (s - lo) / span
    return sorted(scores.items(), key=lambda kv: kv[1], reverse=True)


def weighted_sum(lists: list[tuple[list[tuple[str, float]], float]], head: int) -> list[tuple[str, float]]:
    """Ids by the weighted sum of their scores over the lists. Only the first `head` entries of each list order
    the top; deeper entries just extend it, so the top is the same however deep the lists were read."""

    def total(n: int) -> list[tuple[str, float]]:
        scores: dict[str, float] = {}
        for items, w in lists:
            for cid, score in items[:n]:
                scores[cid] = scores.get(cid, 0.0) + w * score
        return sorted(scores.items(), key=lambda kv: kv[1], reverse=True)

    top = total(head)
    deepest = max((len(items) for items, _ in lists), default=0)
    if deepest > head:
        seen = {cid for cid, _ in top}
        top += [(cid, score) for cid, score in total(deepest) if cid not in seen]
    return top


class Retriever:
    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        vectors: VectorStore,
        keywords: KeywordStore,
        reranker: Reranker | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.vectors = vectors
        self.keywords = keywords
        self.reranker = reranker
        self.rerank_failures = 0

    def search(
        self,
        question: str,
        top_k: int | None = None,
        mode: Mode | None = None,
        floor: float | None = None,
        reader: Reader | None = None,
    ) -> list[Passage]:
        """The top_k most relevant passages `reader` may read (None: every passage), best first; those under the
        relevance floor are dropped."""
        k = top_k or self.settings.top_k
        floor = self.settings.min_similarity if floor is None else floor
        return [p for p in self.ranked(question, k, mode, reader) if p.score >= floor]

    def pool_size(self, depth: int) -> int:
        return max(self.settings.candidate_pool, depth)

    def ranked(
        self, question: str, depth: int, mode: Mode | None = None, reader: Reader | None = None
    ) -> list[Passage]:
        """The depth best passages, no floor. Whatever the depth, the top is exactly what `search` returns:
        fusion always runs over the first candidate_pool candidates of each side, and a deeper ranking
        (for evaluation) only appends what a fusion of the deeper lists adds after them."""
        allowed = reader.allowed() if reader is not None else None
        qvec = self.embedder.embed([question])[0]
        order = self.order(question, qvec, depth, mode or self.settings.retrieval_mode, allowed)
        ids = self.reranked(question, order, allowed)
        return self._passages(ids[:depth], qvec, allowed)

    def ranked_ids(
        self, question: str, depth: int, mode: Mode | None = None, reader: Reader | None = None
    ) -> list[str]:
        """The chunk ids `ranked` would return, without reading the chunks (evaluation ranks hundreds)."""
        allowed = reader.allowed() if reader is not None else None
        qvec = self.embedder.embed([question])[0]
        order = self.order(question, qvec, depth, mode or self.settings.retrieval_mode, allowed)
        return self.reranked(question, order, allowed)[:depth]

    def reranked(self, question: str, ids: list[str], allowed: frozenset[str] | None = None) -> list[str]:
        """With a reranker, its order of the first rerank_candidates ids, then the rest as fused. If it fails, the
        fused order: a question is still answered, and the log and rerank_failures say why it was not reranked."""
        if self.reranker is None or not ids:
            return ids
        head = ids[: self.settings.rerank_candidates]
        text_of = {c.chunk_id: c.text for c in self.read(head, allowed=allowed)[0]}
        try:
            order = self.reranker.order(question, [(cid, text_of[cid]) for cid in head if cid in text_of])
        except RerankError as e:
            self.rerank_failures += 1
            log.warning("%s; using the fused order", e)
            return ids
        except Exception:  # a bug of ours reading its reply: still the fused order, never a failed question
            self.rerank_failures += 1
            log.exception("reranking failed; using the fused order")
            return ids
        done = set(order)
        return order + [cid for cid in ids if cid not in done]

    def order(
        self, question: str, qvec: np.ndarray, depth: int, mode: Mode, allowed: frozenset[str] | None = None
    ) -> list[str]:
        """Chunk ids best first; with feedback on, a second search refined by the first one's best passages.
        `allowed`: the groups whose chunks may be ranked (None: all), applied inside each search."""
        pool = self.pool_size(depth)
        dense = self.nearest(qvec, pool, allowed) if mode != "keyword" else []
        sparse = self.keyword_search(question, pool, allowed) if mode != "vector" else []
        first = self.combine(dense, sparse, mode)
        n = self.settings.feedback_passages
        if n <= 0 or not first:
            return first
        # The feedback passages come from the filtered first search, and are read through the filter again.
        chunks, vecs = self.read(first[:n], with_vectors=True, allowed=allowed)
        if mode != "keyword" and vecs is not None:
            dense = self.nearest(rocchio(qvec, vecs, self.settings.feedback_vector_weight), pool, allowed)
        if mode != "vector":
            sparse = self.expanded(question, sparse, [c.text for c in chunks], pool, allowed)
        return self.combine(dense, sparse, mode)

    # Chroma 1.5's `where` costs in proportion to the chunks it matches, not to k: ~50 us a matching chunk on a
    # 2-core machine, 100+ ms a query when a reader may read a quarter of 100k chunks, against a few ms
    # unfiltered (bench/access_cost.py). So the k nearest chunks a reader may read are found by reading deeper
    # into the unfiltered ranking (ids and distances only: cheap) and asking the manifest which are readable,
    # until k are in hand or the collection ends: the same k, the nearest this reader may read, never fewer.
    # Only a reader of a small share of the index takes Chroma's filter, which is cheap then: it matches few.
    vector_filter = "adaptive"  # or "where": always Chroma's filter (bench/access_cost.py compares the two)
    min_share = 0.02  # below this share of readable chunks in what was read, Chroma's filter is cheaper
    max_depth = 8000  # the deepest unfiltered ranking read before Chroma's filter is used instead

    def nearest(self, qvec: np.ndarray, k: int, allowed: frozenset[str] | None = None) -> list[tuple[str, float]]:
        """The k nearest chunks (id, cosine similarity) that one of the `allowed` groups may read (None: any)."""
        if allowed is None:
            return self.vectors.nearest(qvec, k)
        if not allowed or k <= 0:
            return []
        if self.vector_filter == "where":
            return self.vectors.nearest(qvec, k, allowed)
        n = 4 * k
        while True:
            got = self.vectors.nearest(qvec, n)
            ok = self.keywords.readable([cid for cid, _ in got], allowed)
            kept = [(cid, score) for cid, score in got if cid in ok]
            if len(kept) >= k or len(got) < n:  # enough, or the whole collection was read
                return kept[:k]
            share = len(kept) / len(got)
            deeper = int(1.5 * k / share) if share else self.max_depth + 1
            if share < self.min_share or deeper > self.max_depth:
                return self.vectors.nearest(qvec, k, allowed)
            n = max(deeper, 2 * n)

    def keyword_search(
        self, question: str, pool: int, allowed: frozenset[str] | None = None
    ) -> list[tuple[str, float]]:
        """BM25 of the question's words, plus (weighted) its adjacent word pairs as phrases."""
        s = self.settings
        terms = query_terms(question)
        lists = [(self.keywords.search_any(terms, pool, s.title_weight, allowed), 1.0)]
        if s.phrase_weight > 0 and len(terms) > 1:
            pairs = [f"{a} {b}" for a, b in zip(terms, terms[1:], strict=False)]
            lists.append((self.keywords.search_any(pairs, pool, s.title_weight, allowed), s.phrase_weight))
        return weighted_sum(lists, self.candidate_pool)

    def expanded(
        self,
        question: str,
        first: list[tuple[str, float]],
        feedback: list[str],
        pool: int,
        allowed: frozenset[str] | None = None,
    ) -> list[tuple[str, float]]:
        """The first keyword search plus, with a lower weight, BM25 of words that describe the feedback passages."""
        s = self.settings
        if s.feedback_terms <= 0 or s.feedback_keyword_weight <= 0:
            return first
        terms = query_terms(question)
        words = expansion_terms(feedback, terms, self.keywords.doc_freq, self.keywords.count(), s.feedback_terms)
        added = self.keywords.search_any(words, pool, s.title_weight, allowed)
        return weighted_sum([(first, 1.0), (added, s.feedback_keyword_weight)], self.candidate_pool)

    def combine(self, dense: list[tuple[str, float]], sparse: list[tuple[str, float]], mode: Mode) -> list[str]:
        if mode != "hybrid":
            return [cid for cid, _ in dense or sparse]
        top = self.candidate_pool
        fused = self.fuse(dense[:top], sparse[:top])
        if max(len(dense), len(sparse)) > top:
            seen = set(fused)
            fused += [cid for cid in self.fuse(dense, sparse) if cid not in seen]
        return fused

    @property
    def candidate_pool(self) -> int:
        return self.settings.candidate_pool

    def fuse(self, dense: list[tuple[str, float]], sparse: list[tuple[str, float]]) -> list[str]:
        w = self.settings.vector_weight
        if self.settings.fusion == "convex":
            return [cid for cid, _ in convex([dense, sparse], [w, 1.0 - w])]
        # RRF weights are relative: 0.5/0.5 is the classic unweighted fusion.
        return [cid for cid, _ in rrf([[c for c, _ in dense], [c for c, _ in sparse]], [2 * w, 2 * (1.0 - w)])]

    def read(
        self, ids: list[str], with_vectors: bool = False, allowed: frozenset[str] | None = None
    ) -> tuple[list[StoredChunk], np.ndarray | None]:
        """Stored chunks (and their vectors) with their text, which the keyword index keeps. A chunk whose text is
        nowhere (its file's ingest is being written this moment) is left out, and so is one that none of the
        `allowed` groups may read (None: no filter), whoever asked for its id."""
        chunks, vecs = self.vectors.get(ids, with_vectors, allowed)
        texts = self.keywords.texts([c.chunk_id for c in chunks if not c.text])
        keep = [i for i, c in enumerate(chunks) if c.text or c.chunk_id in texts]
        chunks = [replace(chunks[i], text=chunks[i].text or texts[chunks[i].chunk_id]) for i in keep]
        return chunks, (vecs[keep] if vecs is not None else None)

    def _passages(self, ids: list[str], qvec: np.ndarray, allowed: frozenset[str] | None = None) -> list[Passage]:
        """Passages in the order of ids, scored by cosine similarity to the question."""
        if not ids:
            return []
        chunks, vecs = self.read(ids, with_vectors=True, allowed=allowed)
        if vecs is None:
            return []
        by_id = {c.chunk_id: Passage.from_stored(c, float(v @ qvec)) for c, v in zip(chunks, vecs, strict=True)}
        return [by_id[i] for i in ids if i in by_id]
