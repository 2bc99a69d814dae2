"""Per-query latency of `search` (top_k=5, as the API calls it) for each retrieval method, on the eval indexes.

    .venv/bin/python bench/retrieval_latency.py ../shared/evaldata/cranfield:dev ../shared/evaldata/scifact:train

Methods run round-robin, query by query, so that load from anything else on the machine falls on all alike.

With --backends sqlite,postgres (and RAG_DATABASE_URL or --database-url), each method runs on both keyword
backends over the same Chroma index, round-robin too, and the keyword search alone is timed on each.
`folder:split:N` indexes only the corpus's first N documents (e.g. scifact:train:2900 is about 10k chunks).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.config import Settings  # noqa: E402
from rag.eval.retrieval import BeirData, EvalIndex, build_index, latency, load_beir  # noqa: E402
from rag.index.embeddings import MiniLMEmbedder  # noqa: E402
from rag.index.terms import query_terms  # noqa: E402
from rag.retrieval.retriever import Retriever  # noqa: E402

PLAIN: dict[str, Any] = {"fusion": "rrf", "vector_weight": 0.5, "feedback_passages": 0}
METHODS: list[tuple[str, dict[str, Any]]] = [
    ("BM25 only", {**PLAIN, "retrieval_mode": "keyword"}),
    ("vector only", {**PLAIN, "retrieval_mode": "vector"}),
    ("hybrid RRF", PLAIN),
    ("defaults (convex 0.4 + feedback)", {}),
]


def dataset(arg: str) -> BeirData:
    folder, _, rest = arg.partition(":")
    split, _, first = rest.partition(":")
    data = load_beir(Path(folder), split or None)
    if first:
        kept = dict(list(data.corpus.items())[: int(first)])
        data = replace(data, name=f"{data.name}-{first}", corpus=kept)
    return data


def indexes(data: BeirData, settings: Settings, embedder: MiniLMEmbedder, backends: list[str]) -> dict[str, EvalIndex]:
    """One eval index per keyword backend; they share the dataset's Chroma collection on disk."""
    out = {}
    for backend in backends:
        s = settings.model_copy(update={"database_url": settings.database_url if backend == "postgres" else None})
        out[backend] = build_index(data, s, embedder, progress=False)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("datasets", nargs="+", help="folder[:split[:first N documents]]")
    parser.add_argument("--backends", default="sqlite", help="sqlite, postgres or sqlite,postgres")
    parser.add_argument("--database-url", default=os.environ.get("RAG_DATABASE_URL"))
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", default="bench/results/retrieval-latency.json")
    args = parser.parse_args()
    backends = args.backends.split(",")
    if "postgres" in backends and not args.database_url:
        parser.error("--backends postgres needs --database-url or RAG_DATABASE_URL")
    settings = Settings(_env_file=None, database_url=args.database_url)  # type: ignore[call-arg]
    embedder = MiniLMEmbedder(settings.embed_threads, settings.embed_batch_size)
    out = []
    for arg in args.datasets:
        data = dataset(arg)
        built = indexes(data, settings, embedder, backends)
        runs = [
            (f"{label} [{b}]" if len(backends) > 1 else label, b, c, index)
            for label, c in METHODS
            for b, index in built.items()
        ]
        retrievers = [
            (
                label,
                b,
                Retriever(i.pipeline.settings.model_copy(update=c), embedder, i.pipeline.vectors, i.pipeline.keywords),
            )
            for label, b, c, i in runs
        ]
        ms: dict[str, list[float]] = {label: [] for label, *_ in retrievers}
        keyword_ms: dict[str, list[float]] = {b: [] for b in built}
        for question in list(data.queries.values())[: args.queries]:
            for label, _, retriever in retrievers:
                t0 = time.perf_counter()
                retriever.search(question)
                ms[label].append((time.perf_counter() - t0) * 1000)
            for b, index in built.items():
                t0 = time.perf_counter()
                index.pipeline.keywords.search_any(query_terms(question), settings.candidate_pool)
                keyword_ms[b].append((time.perf_counter() - t0) * 1000)
        chunks = next(iter(built.values())).pipeline.vectors.count()
        backend_of = {label: b for label, b, _ in retrievers}
        rows = [(label, backend_of[label], values) for label, values in ms.items()]
        rows += [(f"keyword search alone [{b}]", b, values) for b, values in keyword_ms.items()]
        for label, backend, values in rows:
            lat = latency(values)
            print(f"{data.name:<10} {chunks:>6} chunks  {label:<45} p50 {lat['p50']:6.1f} ms  p95 {lat['p95']:6.1f} ms")
            row = {"dataset": data.name, "chunks": chunks, "method": label, "queries": len(values), **lat}
            out.append(row if len(backends) == 1 else {**row, "backend": backend})
        for index in built.values():
            index.pipeline.close()
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
