"""Score smoothing over the candidates (the cluster hypothesis: passages like the best ones tend to be
relevant too). After the default retrieval, each of the first M passages gets
(1 - a) * its fused score + a * the similarity-weighted mean score of the K best passages, with
similarity = max(0, cosine)^p between passage vectors. No new model; costs reading M vectors.

    .venv/bin/python bench/probes/score_smoothing.py ../shared/evaldata/cranfield --split dev
    .venv/bin/python bench/probes/score_smoothing.py ../shared/evaldata/scifact --split train
"""

from __future__ import annotations

import itertools

import numpy as np
from common import dataset_parser, doc_ranking, open_index, write

from rag.eval.retrieval import score_run
from rag.retrieval import retriever as retrieve


def main() -> None:
    args = dataset_parser(__doc__).parse_args()
    data, index, embedder = open_index(args.folder, args.split)
    pipe = index.pipeline
    stored = pipe.vectors.collection.get(include=["embeddings"])
    vec = {cid: np.asarray(v, np.float32) for cid, v in zip(stored["ids"], stored["embeddings"], strict=True)}

    last: dict[str, float] = {}

    class Scored(retrieve.Retriever):  # the shipped retriever, keeping the final fusion's scores
        def fuse(self, dense, sparse):  # type: ignore[no-untyped-def]
            w = self.settings.vector_weight
            fused = retrieve.convex([dense, sparse], [w, 1.0 - w])
            last.clear()
            last.update(fused)
            return [cid for cid, _ in fused]

    r = Scored(pipe.settings, embedder, pipe.vectors, pipe.keywords)
    lists = {}
    for qid, q in data.queries.items():
        ids = r.order(q, embedder.embed([q])[0], 400, "hybrid")
        lists[qid] = (ids, np.array([last.get(c, 0.0) for c in ids]))

    def smoothed(ids: list[str], s: np.ndarray, m: int, k: int, a: float, power: float) -> list[str]:
        top = ids[:m]
        v = np.stack([vec[c] for c in top])
        sim = np.clip(v @ v.T, 0, None) ** power
        np.fill_diagonal(sim, 0)
        anchors = np.argsort(-s[:m])[:k]
        near = (sim[:, anchors] * s[anchors][None, :]).sum(1) / (sim[:, anchors].sum(1) + 1e-9)
        new = (1 - a) * s[: len(top)] + a * near
        return [top[i] for i in np.argsort(-new)] + ids[m:]

    base = score_run({q: doc_ranking(index, ids) for q, (ids, _) in lists.items()}, data.qrels)
    print(
        f"default: nDCG@10 {base['ndcg@10']:.4f}\n\n| M | K | a | p | nDCG@10 | Recall@10 |\n|---|---|---|---|---|---|"
    )
    rows = []
    for m, k, a, power in itertools.product((30, 100), (5, 10, 30), (0.2, 0.35, 0.5), (1, 3)):
        run = {q: doc_ranking(index, smoothed(ids, s, m, k, a, power)) for q, (ids, s) in lists.items()}
        res = score_run(run, data.qrels)
        print(f"| {m} | {k} | {a} | {power} | {res['ndcg@10']:.4f} | {res['recall@10']:.3f} |", flush=True)
        rows.append({"M": m, "K": k, "a": a, "p": power, "metrics": res})
    write(f"score-smoothing-{data.name}", {"dataset": data.name, "split": data.split, "default": base, "grid": rows})


if __name__ == "__main__":
    main()
