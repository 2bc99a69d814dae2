"""Each retrieval idea as a settings change, measured with the `rag eval` harness on one BEIR folder.

    .venv/bin/python bench/retrieval_ideas.py ../shared/evaldata/cranfield --split dev \
        --json bench/results/cranfield-ideas.json

Builds (or reuses) the eval index once, then runs every query under each variant through the Retriever the
API uses. Prints a markdown table: nDCG@10, Recall@10, Recall@100 and p50/p95 latency of `search` as the API
calls it (top_k=5, question embedding included).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.config import Settings  # noqa: E402
from rag.eval.retrieval import build_index, load_beir, run_queries  # noqa: E402
from rag.index.embeddings import MiniLMEmbedder  # noqa: E402
from rag.retrieval.retriever import Retriever  # noqa: E402

# Every variant spells out what it changes from plain RRF, so rows keep their meaning when defaults move.
PLAIN: dict[str, Any] = {"fusion": "rrf", "vector_weight": 0.5, "feedback_passages": 0}
FEEDBACK = {
    **PLAIN,
    "feedback_passages": 5,
    "feedback_terms": 10,
    "feedback_keyword_weight": 0.5,
    "feedback_vector_weight": 1.0,
}

VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("BM25 only (FTS5, title x2)", {**PLAIN, "retrieval_mode": "keyword"}),
    ("vector only (MiniLM int8)", {**PLAIN, "retrieval_mode": "vector"}),
    ("hybrid: RRF k=60, equal weights", {**PLAIN}),
    ("RRF, vector weight 0.4", {**PLAIN, "vector_weight": 0.4}),
    ("RRF, vector weight 0.6", {**PLAIN, "vector_weight": 0.6}),
    ("convex (min-max), vector weight 0.5", {**PLAIN, "fusion": "convex"}),
    ("convex (min-max), vector weight 0.4", {**PLAIN, "fusion": "convex", "vector_weight": 0.4}),
    ("title weight 1 (no boost)", {**PLAIN, "title_weight": 1.0}),
    ("title weight 4", {**PLAIN, "title_weight": 4.0}),
    ("adjacent word pairs as phrases (0.5)", {**PLAIN, "phrase_weight": 0.5}),
    ("candidate pool 50", {**PLAIN, "candidate_pool": 50}),
    ("candidate pool 200", {**PLAIN, "candidate_pool": 200}),
    ("feedback, keyword side only (RM3-like)", {**FEEDBACK, "feedback_vector_weight": 0.0}),
    ("feedback, vector side only (Rocchio)", {**FEEDBACK, "feedback_keyword_weight": 0.0}),
    ("feedback, both sides (5 passages)", {**FEEDBACK}),
    ("feedback, both sides, 10 passages", {**FEEDBACK, "feedback_passages": 10}),
    ("feedback, both sides, 20 words", {**FEEDBACK, "feedback_terms": 20}),
    ("feedback, both sides, convex fusion 0.5", {**FEEDBACK, "fusion": "convex", "vector_weight": 0.5}),
    ("feedback, both sides, convex fusion 0.4", {**FEEDBACK, "fusion": "convex", "vector_weight": 0.4}),
    ("defaults as shipped", {}),
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder")
    p.add_argument("--split", default=None)
    p.add_argument("--json", default=None, help="write every variant's metrics, latency and settings here")
    p.add_argument("--only", default=None, help="comma-separated: run only variants whose label contains one")
    args = p.parse_args()

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    embedder = MiniLMEmbedder(settings.embed_threads, settings.embed_batch_size)
    data = load_beir(Path(args.folder), args.split)
    index = build_index(data, settings, embedder, progress=True)
    pipe = index.pipeline
    rows = []
    print(f"\n{data.name} ({data.split}), {len(data.queries)} queries, {pipe.vectors.count():,} chunks\n")
    print("| idea | nDCG@10 | Recall@10 | Recall@100 | search p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|")
    for label, changes in VARIANTS:
        if args.only and not any(part in label for part in args.only.split(",")):
            continue
        variant = pipe.settings.model_copy(update=changes)
        pipe.retriever = Retriever(variant, embedder, pipe.vectors, pipe.keywords)
        result = run_queries(index, data, progress=False)
        m, lat = result.metrics, result.latency
        print(
            f"| {label} | {m['ndcg@10']:.3f} | {m['recall@10']:.3f} | {m['recall@100']:.3f} "
            f"| {lat['p50']:.1f} | {lat['p95']:.1f} |",
            flush=True,
        )
        rows.append({"idea": label, "changes": changes, "metrics": m, "search_latency_ms": lat, **result.extra})
    if args.json:
        out = {"dataset": data.name, "split": data.split, "queries": len(data.queries), "index": result.index}
        Path(args.json).write_text(json.dumps({**out, "variants": rows}, indent=1) + "\n", encoding="utf-8")
    pipe.close()


if __name__ == "__main__":
    main()
