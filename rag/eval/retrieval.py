"""Retrieval quality on a BEIR-format folder: nDCG@10, Recall@10/100, MRR@10 and Success@5, with timings;
per language too when the queries carry `metadata.lang` (rag/eval/languages.py).

The corpus goes through the project's own pipeline (loader, chunking, embedding, Chroma, keyword index)
into an index of its own under `<data_dir>/eval/`, so the user's index is never touched, and every query
goes through the Retriever the API uses. Chunk hits become a document ranking by each document's best
(first-ranked) chunk.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import logging
import math
import re
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tqdm import tqdm

from rag.config import Settings
from rag.eval.languages import first_per_language, format_languages, score_by_language
from rag.index.embeddings import Embedder
from rag.index.storage import pick
from rag.index.vectors import make_chroma_client
from rag.ingest.indexer import IngestReport
from rag.pipeline import Pipeline, build

log = logging.getLogger(__name__)

RUN_DEPTH = 100  # documents kept per query in the run: enough for Recall@100 and for rescoring


class DatasetError(ValueError):
    """A folder that is not in the BEIR layout; the message says what is missing."""


@dataclass(frozen=True)
class BeirData:
    name: str
    split: str
    corpus: dict[str, tuple[str, str]]  # doc id -> (title, text)
    queries: dict[str, str]  # only the queries that have judgements in this split
    qrels: dict[str, dict[str, int]]  # query id -> doc id -> graded relevance
    query_lang: dict[str, str] = field(default_factory=dict)  # query id -> its metadata.lang, where given

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for doc_id in sorted(self.corpus):
            title, text = self.corpus[doc_id]
            h.update(f"{doc_id}\x00{title}\x00{text}\x01".encode())
        return h.hexdigest()[:12]


def _jsonl(folder: Path, stem: str) -> Iterator[dict[str, Any]]:
    for path, opener in ((folder / f"{stem}.jsonl", open), (folder / f"{stem}.jsonl.gz", gzip.open)):
        if path.exists():
            with opener(path, "rt", encoding="utf-8") as f:  # type: ignore[operator]
                for n, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            yield json.loads(line)
                        except json.JSONDecodeError as e:
                            raise DatasetError(f"{path}:{n}: not JSON ({e.msg})") from None
            return
    raise DatasetError(f"{folder} has no {stem}.jsonl or {stem}.jsonl.gz: is it a BEIR-format folder?")


def splits(folder: Path) -> list[str]:
    return sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))


def load_beir(folder: Path, split: str | None = None) -> BeirData:
    """Read corpus.jsonl(.gz), queries.jsonl(.gz) and qrels/<split>.tsv; split defaults to dev, then test."""
    available = splits(folder)
    if split is None:
        split = next((s for s in ("dev", "test", "train") if s in available), available[0] if available else "dev")
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.exists():
        raise DatasetError(f"no judgements for split '{split}' ({qrels_path}); splits here: {available or 'none'}")
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    corpus = {str(d["_id"]): (d.get("title") or "", d.get("text") or "") for d in _jsonl(folder, "corpus")}
    all_queries: dict[str, str] = {}
    query_lang: dict[str, str] = {}
    for q in _jsonl(folder, "queries"):
        all_queries[str(q["_id"])] = q["text"]
        lang = (q.get("metadata") or {}).get("lang")
        if lang:
            query_lang[str(q["_id"])] = str(lang)
    # As BEIR does: a query is scored only if it has at least one relevant document in this split.
    queries = {qid: all_queries[qid] for qid in qrels if qid in all_queries and any(s > 0 for s in qrels[qid].values())}
    if not queries:
        raise DatasetError(f"no query in {folder}/queries.jsonl has a relevant document in {qrels_path}")
    langs = {qid: query_lang[qid] for qid in queries if qid in query_lang}
    return BeirData(folder.resolve().name, split, corpus, queries, qrels, langs)


# --- metrics (graded gains 2^rel - 1, log2 discount; relevant = score > 0) ---------------------------
def ndcg_at_k(ranking: list[str], judged: dict[str, int], k: int = 10) -> float:
    dcg = sum((2 ** judged.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranking[:k]))
    ideal = sorted((s for s in judged.values() if s > 0), reverse=True)[:k]
    idcg = sum((2**s - 1) / math.log2(i + 2) for i, s in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at_k(ranking: list[str], judged: dict[str, int], k: int) -> float:
    relevant = {d for d, s in judged.items() if s > 0}
    return len(relevant.intersection(ranking[:k])) / len(relevant) if relevant else 0.0


def mrr_at_k(ranking: list[str], judged: dict[str, int], k: int = 10) -> float:
    for i, d in enumerate(ranking[:k]):
        if judged.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def success_at_k(ranking: list[str], judged: dict[str, int], k: int = 5) -> float:
    """1 when any relevant document is among the first k, else 0."""
    return 1.0 if any(judged.get(d, 0) > 0 for d in ranking[:k]) else 0.0


def score_run(run: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """Mean metrics over the queries of the run."""
    per_query = [
        (
            ndcg_at_k(r, qrels[q]),
            recall_at_k(r, qrels[q], 10),
            recall_at_k(r, qrels[q], 100),
            mrr_at_k(r, qrels[q]),
            success_at_k(r, qrels[q], 5),
        )
        for q, r in run.items()
    ]
    names = ("ndcg@10", "recall@10", "recall@100", "mrr@10", "success@5")
    return {n: round(statistics.fmean(v[i] for v in per_query), 4) for i, n in enumerate(names)}


# --- the eval index --------------------------------------------------------------------------------
def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9._-]+", "-", text).strip("-._")[:40] or "dataset"


def _file_name(doc_id: str, has_title: bool) -> str:
    name = quote(doc_id, safe="")
    if name.startswith(".") or len(name) > 180:  # hidden files are skipped by the walker; names have limits
        name = "id-" + hashlib.sha256(doc_id.encode()).hexdigest()[:24]
    # A markdown heading is how the loader learns a title; without one, plain text keeps it from guessing.
    return name + (".md" if has_title else ".txt")


@dataclass
class EvalIndex:
    pipeline: Pipeline
    doc_of: dict[str, str]  # file name -> doc id
    report: IngestReport
    folder: Path
    doc_of_chunk: dict[str, str] = field(default_factory=dict)  # chunk id -> doc id

    def __post_init__(self) -> None:
        if not self.doc_of_chunk:
            for chunk_id, source in self.pipeline.keywords.chunk_sources().items():
                doc_id = self.doc_of.get(Path(source).name)
                if doc_id is not None:
                    self.doc_of_chunk[chunk_id] = doc_id


def eval_settings(settings: Settings, data: BeirData, embedder_name: str) -> Settings:
    """The user's settings, pointed at a data dir and collection of the dataset's own."""
    key = f"{data.fingerprint()}|{settings.chunk_tokens}|{settings.chunk_overlap}|{settings.tiktoken_encoding}"
    key += f"|{embedder_name}"
    collection = f"eval-{_slug(data.name)}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"
    return settings.model_copy(
        update={"data_dir": settings.data_dir / "eval" / collection, "collection": collection, "chroma_url": None}
    )


def build_index(data: BeirData, settings: Settings, embedder: Embedder, progress: bool = True) -> EvalIndex:
    """Write each document as a file and ingest the folder; a second run with the same corpus is cheap."""
    esettings = eval_settings(settings, data, embedder.name)
    folder = esettings.data_dir / "docs"
    folder.mkdir(parents=True, exist_ok=True)
    doc_of: dict[str, str] = {}
    for doc_id, (title, text) in data.corpus.items():
        title = " ".join(title.split())
        name = _file_name(doc_id, bool(title))
        doc_of[name] = doc_id
        body = f"# {title}\n\n{text}\n" if title else f"{text}\n"
        path = folder / name
        if not path.exists() or path.read_text(encoding="utf-8") != body:
            path.write_text(body, encoding="utf-8")
    for stale in folder.iterdir():
        if stale.name not in doc_of:
            stale.unlink()
    # The eval index keeps its vectors on disk beside its docs even when the keyword side is in PostgreSQL
    # (RAG_DATABASE_URL): the index is this run's own, and only the keyword side differs between backends.
    chroma = pick(esettings, local=lambda: None, shared=lambda _: make_chroma_client(esettings))
    pipe = build(esettings, embedder=embedder, chroma_client=chroma)
    if chroma is not None and pipe.vectors.count() == 0:
        # The vectors went with a deleted data dir while PostgreSQL kept the manifest: forget it, or every
        # file would count as unchanged and never be embedded again.
        for record in pipe.keywords.records():
            pipe.ingestor.remove(record.source)
    report = pipe.ingestor.ingest([folder], prune=True, progress=progress)
    return EvalIndex(pipe, doc_of, report, folder)


# --- running the queries ---------------------------------------------------------------------------
@dataclass
class EvalResult:
    data: BeirData
    metrics: dict[str, float]
    run: dict[str, list[str]]
    query_ms: list[float]
    index: dict[str, Any]
    settings: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def latency(self) -> dict[str, float]:
        return latency(self.query_ms)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.data.name,
            "split": self.data.split,
            "queries": len(self.run),
            "metrics": self.metrics,
            "latency_ms": self.latency,
            "index": self.index,
            "settings": self.settings,
            **self.extra,
            "run": self.run,
        }


def latency(ms: list[float]) -> dict[str, float]:
    if not ms:
        return {}
    ordered = sorted(ms)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": round(pick(0.5), 2), "p95": round(pick(0.95), 2), "mean": round(statistics.fmean(ms), 2)}


def document_ranking(index: EvalIndex, question: str, depth: int = RUN_DEPTH) -> list[str]:
    """Doc ids best first, each at the rank of its best chunk; deepens the chunk ranking until it has depth docs."""
    retriever = index.pipeline.retriever
    total = len(index.doc_of_chunk)
    chunks = min(total, max(4 * depth, retriever.pool_size(depth)))
    while True:
        ids = retriever.ranked_ids(question, chunks)
        docs = list(dict.fromkeys(index.doc_of_chunk[c] for c in ids if c in index.doc_of_chunk))
        if len(docs) >= depth or chunks >= total or len(ids) < chunks:
            return docs[:depth]
        chunks = min(total, chunks * 2)


def evaluate(
    data: BeirData,
    settings: Settings,
    embedder: Embedder,
    progress: bool = True,
    limit: int | None = None,
    per_language: int | None = None,
) -> EvalResult:
    """Metrics of the retrieval in force; with a reranker configured, also of the same retrieval without it."""
    index = build_index(data, settings, embedder, progress)
    try:
        result = run_queries(index, data, progress, limit, per_language)
        retriever = index.pipeline.retriever
        if retriever.reranker is not None:
            result.extra["rerank_failures"] = retriever.rerank_failures
            retriever.reranker = None
            plain = run_queries(index, data, progress, limit, per_language)
            result.extra["without_reranker"] = {"metrics": plain.metrics, "latency_ms": plain.latency}
        return result
    finally:
        index.pipeline.close()


def run_queries(
    index: EvalIndex,
    data: BeirData,
    progress: bool = True,
    limit: int | None = None,
    per_language: int | None = None,
) -> EvalResult:
    """Every query through the Retriever, twice: the deep ranking that is scored, and `search` exactly as the
    API calls it (top_k, relevance floor) for its latency. Timings include embedding the question.
    per_language: only the first N queries of each language, by id (then `limit` applies to those)."""
    pipe = index.pipeline
    run: dict[str, list[str]] = {}
    ranking_ms: list[float] = []
    search_ms: list[float] = []
    qids = list(data.queries)
    if per_language:
        qids = first_per_language(qids, data.query_lang, per_language)
    items = [(qid, data.queries[qid]) for qid in qids[:limit]]
    for qid, text in tqdm(items, desc="queries", unit="query", disable=not progress):
        t0 = time.perf_counter()
        run[qid] = document_ranking(index, text)
        t1 = time.perf_counter()
        pipe.retriever.search(text)
        search_ms.append((time.perf_counter() - t1) * 1000)
        ranking_ms.append((t1 - t0) * 1000)
    skipped = [r.source for r in index.report.results if r.status == "skipped"]
    index_info = {
        "collection": pipe.settings.collection,
        "data_dir": str(pipe.settings.data_dir),
        "documents": len(data.corpus),
        "documents_not_indexed": len(skipped),  # e.g. empty documents: they can never be retrieved
        "chunks": pipe.vectors.count(),
        "ingest_seconds": round(index.report.seconds, 1),
        "chunks_embedded": index.report.embedded,
    }
    shown = pipe.settings.shown()
    kept = {
        k: v
        for k, v in shown.items()
        if not k.startswith(("llm_", "local_llm", "slack_", "api_keys", "rerank_api_key"))
    }
    extra: dict[str, Any] = {"ranking_latency_ms": latency(ranking_ms), "run_depth": RUN_DEPTH}
    if per_language:
        extra["queries_per_language"] = per_language
    if data.query_lang:
        extra["by_language"] = score_by_language(run, data.query_lang, score_run, data.qrels)
    return EvalResult(data, score_run(run, data.qrels), run, search_ms, index_info, kept, extra)


def format_report(result: EvalResult) -> str:
    """The lines `rag eval` prints."""
    d, i, s, m = result.data, result.index, result.settings, result.metrics
    lat, deep = result.latency, result.extra["ranking_latency_ms"]
    retrieval = f"{s['retrieval_mode']}"
    if s["retrieval_mode"] == "hybrid":
        retrieval += f" ({s['fusion']}, vector weight {s['vector_weight']}, pool {s['candidate_pool']})"
    if s["feedback_passages"]:
        retrieval += f", feedback from {s['feedback_passages']} passages"
    if s.get("rerank_url"):
        retrieval += f", reranked ({s['rerank_candidates']} candidates) by {s['rerank_url']}"
    lines = [
        f"{d.name} ({d.split}): {len(result.run)} queries, {i['documents']:,} documents -> {i['chunks']:,} chunks "
        f"of {s['chunk_tokens']} tokens in collection {i['collection']}",
        f"ingest: {i['ingest_seconds']:.1f} s, {i['chunks_embedded']:,} chunks embedded"
        + (f", {i['documents_not_indexed']} documents not indexed (empty)" if i["documents_not_indexed"] else ""),
        f"retrieval: {retrieval}",
        f"nDCG@10 {m['ndcg@10']:.4f}   Recall@10 {m['recall@10']:.4f}   Recall@100 {m['recall@100']:.4f}   "
        f"MRR@10 {m['mrr@10']:.4f}   Success@5 {m['success@5']:.4f}",
        f"per query: search (top_k={s['top_k']}, as the API runs it) p50 {lat['p50']:.1f} ms, "
        f"p95 {lat['p95']:.1f} ms; "
        f"ranking {RUN_DEPTH} documents p50 {deep['p50']:.1f} ms, p95 {deep['p95']:.1f} ms",
    ]
    if result.extra.get("by_language"):
        lines += format_languages(result.extra["by_language"], m, len(result.run))
    plain = result.extra.get("without_reranker")
    if plain:
        pm, pl = plain["metrics"], plain["latency_ms"]
        lines.append(
            f"without the reranker: nDCG@10 {pm['ndcg@10']:.4f}   Recall@10 {pm['recall@10']:.4f}   "
            f"Recall@100 {pm['recall@100']:.4f}   MRR@10 {pm['mrr@10']:.4f}   search p50 {pl['p50']:.1f} ms"
        )
        if result.extra["rerank_failures"]:
            lines.append(f"warning: {result.extra['rerank_failures']} rerank calls failed (see the log): fused order")
    return "\n".join(lines)
