"""Finer vectors: would MiniLM match a question better against single sentences (and the title) than
against a whole passage? Ranks documents by their best sentence, the mean of their two best, and the
mean of best sentence and whole document; the whole document's own vector is the baseline.

    .venv/bin/python bench/probes/sentence_vectors.py ../shared/evaldata/cranfield --split dev
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
from common import dataset_parser, write

from rag.eval.retrieval import load_beir, score_run
from rag.index.embeddings import MiniLMEmbedder

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def main() -> None:
    args = dataset_parser(__doc__).parse_args()
    data = load_beir(Path(args.folder), args.split)
    embedder = MiniLMEmbedder(0, 32)
    docs = [(d, t, x) for d, (t, x) in data.corpus.items() if x.strip()]
    units, owner = [], []
    for d, title, text in docs:
        for s in _SENTENCE_END.split(text):
            if len(s.split()) >= 3:
                units.append(s.strip())
                owner.append(d)
        if title.strip():
            units.append(title)
            owner.append(d)
    t0 = time.perf_counter()
    unit_vecs = embedder.embed(units)
    seconds = time.perf_counter() - t0
    doc_vecs = embedder.embed([f"{t}\n\n{x}" for _, t, x in docs])
    qids = list(data.queries)
    qvecs = embedder.embed([data.queries[q] for q in qids])
    print(f"{len(units):,} sentences and titles embedded in {seconds:.1f} s; {len(docs):,} documents")
    runs: dict[str, dict[str, list[str]]] = {"whole document": {}, "best sentence": {}, "mean of two best": {}}
    runs["best sentence + whole document"] = {}
    for qi, qid in enumerate(qids):
        by_doc: dict[str, list[float]] = {}
        for d, s in zip(owner, unit_vecs @ qvecs[qi], strict=True):
            by_doc.setdefault(d, []).append(float(s))
        whole = {d: float(s) for (d, _, _), s in zip(docs, doc_vecs @ qvecs[qi], strict=True)}
        scored = {
            "whole document": whole,
            "best sentence": {d: max(v) for d, v in by_doc.items()},
            "mean of two best": {d: float(np.mean(sorted(v)[-2:])) for d, v in by_doc.items()},
            "best sentence + whole document": {d: 0.5 * max(v) + 0.5 * whole[d] for d, v in by_doc.items()},
        }
        for name, sc in scored.items():
            runs[name][qid] = sorted(sc, key=lambda d: -sc[d])[:100]
    out = {}
    print("| dense ranking by | nDCG@10 | Recall@10 | Recall@100 |\n|---|---|---|---|")
    for name, run in runs.items():
        m = score_run(run, data.qrels)
        out[name] = m
        print(f"| {name} | {m['ndcg@10']:.3f} | {m['recall@10']:.3f} | {m['recall@100']:.3f} |")
    write(
        f"sentence-vectors-{data.name}",
        {
            "dataset": data.name,
            "split": data.split,
            "units": len(units),
            "embed_seconds": round(seconds, 1),
            "metrics": out,
        },
    )


if __name__ == "__main__":
    main()
