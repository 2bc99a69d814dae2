"""Per-query latency of `search` (top_k=5, as the API calls it) for each retrieval method, on the eval indexes.

    .venv/bin/python bench/retrieval_latency.py ../shared/evaldata/cranfield:dev ../shared/evaldata/scifact:train

Methods run round-robin, query by query, so that load from anything else on the machine falls on all alike.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.config import Settings  # noqa: E402
from rag.embeddings import MiniLMEmbedder  # noqa: E402
from rag.evaluate import build_index, latency, load_beir  # noqa: E402
from rag.retrieve import Retriever  # noqa: E402

PLAIN: dict[str, Any] = {"fusion": "rrf", "vector_weight": 0.5, "feedback_passages": 0}
METHODS: list[tuple[str, dict[str, Any]]] = [
    ("BM25 only", {**PLAIN, "retrieval_mode": "keyword"}),
    ("vector only", {**PLAIN, "retrieval_mode": "vector"}),
    ("hybrid RRF", PLAIN),
    ("defaults (convex 0.4 + feedback)", {}),
]


def main() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    embedder = MiniLMEmbedder(settings.embed_threads, settings.embed_batch_size)
    out = []
    for arg in sys.argv[1:]:
        folder, _, split = arg.partition(":")
        data = load_beir(Path(folder), split or None)
        index = build_index(data, settings, embedder, progress=False)
        pipe = index.pipeline
        retrievers = [
            (label, Retriever(pipe.settings.model_copy(update=c), embedder, pipe.vectors, pipe.keywords))
            for label, c in METHODS
        ]
        ms: dict[str, list[float]] = {label: [] for label, _ in METHODS}
        for question in list(data.queries.values())[:200]:
            for label, retriever in retrievers:
                t0 = time.perf_counter()
                retriever.search(question)
                ms[label].append((time.perf_counter() - t0) * 1000)
        chunks = pipe.vectors.count()
        for label, values in ms.items():
            lat = latency(values)
            print(f"{data.name:<10} {chunks:>6} chunks  {label:<34} p50 {lat['p50']:6.1f} ms  p95 {lat['p95']:6.1f} ms")
            out.append({"dataset": data.name, "chunks": chunks, "method": label, "queries": len(values), **lat})
        pipe.close()
    Path("bench/results/retrieval-latency.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
