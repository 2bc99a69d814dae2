"""Question words weighted by the embedder: a word matters as much as the question's vector moves when it is
left out (weight = 1 - cosine(question, the other words), normalised to mean 1). The keyword side becomes
sum over words of weight × that word's BM25, each read from FTS5 for the unweighted search's first
4 × pool candidates. Measured on the keyword side alone and inside the default retrieval.

    .venv/bin/python bench/probes/term_weights.py ../shared/evaldata/cranfield --split dev
"""

from __future__ import annotations

import numpy as np
from common import dataset_parser, open_index, write

from rag.eval.retrieval import EvalIndex, document_ranking, score_run
from rag.index.keyword import KeywordIndex, query_terms
from rag.retrieval import retriever as retrieve


def search_weighted(
    kw: KeywordIndex, weights: dict[str, float], limit: int, title_weight: float
) -> list[tuple[str, float]]:
    db = kw._db
    match = " OR ".join(f'"{t}"' for t in weights)
    first = db.execute(
        "SELECT rowid, bm25(chunks_fts, ?, 1.0) AS s FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY s LIMIT ?",
        (title_weight, match, 4 * limit),
    ).fetchall()
    if not first:
        return []
    rowids = [r for r, _ in first]
    marks = ",".join("?" * len(rowids))
    total = dict.fromkeys(rowids, 0.0)
    for term, w in weights.items():
        sql = f"SELECT rowid, bm25(chunks_fts, ?, 1.0) FROM chunks_fts WHERE chunks_fts MATCH ? AND rowid IN ({marks})"
        for rid, s in db.execute(sql, (title_weight, f'"{term}"', *rowids)):
            total[rid] += -s * w
    top = sorted(total.items(), key=lambda kv: -kv[1])[:limit]
    marks = ",".join("?" * len(top))
    ids = dict(db.execute(f"SELECT rowid, chunk_id FROM chunks WHERE rowid IN ({marks})", [r for r, _ in top]))
    return [(ids[r], s) for r, s in top]


class Weighted(retrieve.Retriever):
    def keyword_search(self, question: str, pool: int) -> list[tuple[str, float]]:
        terms = query_terms(question)
        if len(terms) < 2:
            return super().keyword_search(question, pool)
        q = self.embedder.embed([question])[0]
        without = self.embedder.embed([" ".join(x for x in terms if x != t) for t in terms])
        drop = np.clip(1 - without @ q, 1e-4, None)
        weights: dict[str, float] = {}
        for t, w in zip(terms, drop / drop.mean(), strict=True):
            weights[t] = weights.get(t, 0.0) + float(w)
        return search_weighted(self.keywords, weights, pool, self.settings.title_weight)


def main() -> None:
    args = dataset_parser(__doc__).parse_args()
    data, index, embedder = open_index(args.folder, args.split)
    pipe = index.pipeline
    keyword_only = pipe.settings.model_copy(update={"retrieval_mode": "keyword", "feedback_passages": 0})

    def scored(r: retrieve.Retriever, idx: EvalIndex) -> dict[str, float]:
        idx.pipeline.retriever = r
        return score_run({qid: document_ranking(idx, q) for qid, q in data.queries.items()}, data.qrels)

    out = {
        "keyword side alone": scored(retrieve.Retriever(keyword_only, embedder, pipe.vectors, pipe.keywords), index),
        "keyword side alone, weighted": scored(Weighted(keyword_only, embedder, pipe.vectors, pipe.keywords), index),
        "default": scored(retrieve.Retriever(pipe.settings, embedder, pipe.vectors, pipe.keywords), index),
        "default, weighted keyword side": scored(Weighted(pipe.settings, embedder, pipe.vectors, pipe.keywords), index),
    }
    print("| retrieval | nDCG@10 | Recall@10 | Recall@100 |\n|---|---|---|---|")
    for name, m in out.items():
        print(f"| {name} | {m['ndcg@10']:.3f} | {m['recall@10']:.3f} | {m['recall@100']:.3f} |")
    write(f"term-weights-{data.name}", {"dataset": data.name, "split": data.split, "metrics": out})


if __name__ == "__main__":
    main()
