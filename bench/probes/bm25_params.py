"""BM25's k1 and b, which FTS5 fixes at 1.2 and 0.75: would other values, or whole documents instead of
chunks, make the keyword side stronger? An in-memory BM25 (porter stems, like FTS5's tokenizer) over the
same chunks the eval index holds, and over whole documents.

    .venv/bin/python bench/probes/bm25_params.py ../shared/evaldata/cranfield --split dev
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter, defaultdict

import numpy as np
import Stemmer
from common import dataset_parser, doc_ranking, open_index, write

from rag.eval.retrieval import score_run
from rag.index.terms import query_terms

_WORD = re.compile(r"\w+")
_stem = Stemmer.Stemmer("porter")


def stems(text: str) -> list[str]:
    return list(_stem.stemWords(_WORD.findall(text.lower())))


class BM25:
    def __init__(self, units: list[tuple[str, str]], title_weight: float) -> None:
        self.postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self.lengths = np.zeros(len(units))
        for i, (title, text) in enumerate(units):
            tf: Counter[str] = Counter(stems(text))
            for s, n in Counter(stems(title)).items():
                tf[s] += title_weight * n
            self.lengths[i] = sum(tf.values())
            for s, n in tf.items():
                self.postings[s].append((i, n))

    def scores(self, question: str, k1: float, b: float) -> np.ndarray:
        n, avg = len(self.lengths), self.lengths.mean()
        out = np.zeros(n)
        for s in set(query_terms(question, "en")):  # Porter stems already, as `stems` makes them
            post = self.postings.get(s)
            if not post:
                continue
            ids = np.array([i for i, _ in post])
            tf = np.array([t for _, t in post])
            idf = math.log(1 + (n - len(ids) + 0.5) / (len(ids) + 0.5))
            out[ids] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * self.lengths[ids] / avg))
        return out


def main() -> None:
    args = dataset_parser(__doc__).parse_args()
    data, index, _ = open_index(args.folder, args.split)
    db = index.pipeline.keywords._db
    rows = db.execute(
        "SELECT c.chunk_id, f.title, f.text FROM chunks c JOIN chunks_fts f ON f.rowid = c.rowid"
    ).fetchall()
    chunk_ids = [r[0] for r in rows]
    docs = list(data.corpus.items())
    results = []
    print("| title weight | k1 | b | chunks nDCG@10 | whole documents nDCG@10 |\n|---|---|---|---|---|")
    for tw in (1.0, 2.0):
        on_chunks = BM25([(r[1], r[2]) for r in rows], tw)
        on_docs = BM25([(t, x) for _, (t, x) in docs], tw)
        for k1, b in itertools.product((0.9, 1.2, 2.0), (0.3, 0.5, 0.75, 1.0)):
            run_c, run_d = {}, {}
            for qid, q in data.queries.items():
                s = on_chunks.scores(q, k1, b)
                run_c[qid] = doc_ranking(index, [chunk_ids[i] for i in np.argsort(-s)[:400] if s[i] > 0])
                s = on_docs.scores(q, k1, b)
                run_d[qid] = [docs[i][0] for i in np.argsort(-s)[:100] if s[i] > 0]
            mc, md = score_run(run_c, data.qrels), score_run(run_d, data.qrels)
            print(f"| {tw:g} | {k1} | {b} | {mc['ndcg@10']:.3f} | {md['ndcg@10']:.3f} |", flush=True)
            results.append({"title_weight": tw, "k1": k1, "b": b, "chunks": mc, "documents": md})
    write(f"bm25-params-{data.name}", {"dataset": data.name, "split": data.split, "grid": results})


if __name__ == "__main__":
    main()
