"""Keyword-only retrieval per language on XQuAD's dev part: one paragraph one row, the retriever's keyword search.

    PYTHONPATH=$PWD python bench/keyword_languages.py --per-language 100 --label after

Runs the code on PYTHONPATH, so the same file measures an older checkout (PYTHONPATH=<its root>). Paragraphs
are indexed whole (no chunking, no embedder): the figures isolate the keyword analysis. nDCG@10 uses XQuAD's
grades (the paragraph in the question's language 2, in another language 1); `own@5` is the share of questions
whose paragraph, in any language, is among the first 5. Writes bench/results/keyword-languages-<label>.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("/work/shared/evaldata/xquad"), help="a BEIR folder")
    ap.add_argument("--per-language", type=int, default=100, help="the first N questions of each language")
    ap.add_argument("--label", required=True)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()

    from rag.config import Settings
    from rag.eval.retrieval import mrr_at_k, ndcg_at_k
    from rag.index.keyword import KeywordIndex
    from rag.retrieval.retriever import Retriever

    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with (args.data / "qrels" / "dev.tsv").open() as f:
        next(f)
        for line in f:
            q, d, s = line.split("\t")
            qrels[q][d] = int(s)
    queries: dict[str, list[tuple[str, str]]] = defaultdict(list)
    with (args.data / "queries.jsonl").open() as f:
        for line in f:
            row = json.loads(line)
            lang = (row.get("metadata") or {}).get("lang", "all")
            if len(queries[lang]) < args.per_language and row["_id"] in qrels:
                queries[lang].append((row["_id"], row["text"]))

    with tempfile.TemporaryDirectory() as tmp:
        index = KeywordIndex(Path(tmp) / "keyword.sqlite")
        start = time.perf_counter()
        plain = args.data / "corpus.jsonl"
        gz = plain.with_suffix(".jsonl.gz")
        opened = plain.open(encoding="utf-8") if plain.exists() else gzip.open(gz, "rt")  # noqa: SIM115 (closed by with)
        with opened as f, index.transaction():
            for line in f:
                row = json.loads(line)
                index.add(row["_id"], row.get("title") or "", [(row["_id"], row["text"])])
        ingest_s = time.perf_counter() - start
        settings = Settings(data_dir=Path(tmp))
        retriever = Retriever(settings, None, None, index)  # type: ignore[arg-type]  # keyword side only
        per_lang: dict[str, dict[str, float]] = {}
        start = time.perf_counter()
        n = 0
        for lang, qs in sorted(queries.items()):
            nd = own = mrr = 0.0
            for qid, text in qs:
                ranking = [cid for cid, _ in retriever.keyword_search(text, settings.candidate_pool)]
                judged = qrels[qid]
                nd += ndcg_at_k(ranking, judged, 10)
                mrr += mrr_at_k(ranking, {d: 2 for d in judged if judged[d] == 2})  # its paragraph in its language
                own += any(judged.get(d, 0) > 0 for d in ranking[:5])
                n += 1
            per_lang[lang] = {k: round(v / len(qs), 4) for k, v in (("ndcg@10", nd), ("own@5", own), ("mrr@10", mrr))}
        query_ms = (time.perf_counter() - start) / max(n, 1) * 1000
        index.close()
    result = {
        "label": args.label,
        "questions_per_language": args.per_language,
        "ingest_seconds": round(ingest_s, 1),
        "query_ms": round(query_ms, 2),
        "per_language": per_lang,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"keyword-languages-{args.label}.json").write_text(json.dumps(result, indent=1) + "\n")
    langs = sorted(per_lang)
    print("| | " + " | ".join(langs) + " |", file=sys.stdout)
    for key in ("ndcg@10", "own@5"):
        print(f"| {key} | " + " | ".join(f"{per_lang[lg][key]:.2f}" for lg in langs) + " |")
    print(f"ingest {ingest_s:.1f} s, query {query_ms:.2f} ms")


if __name__ == "__main__":
    main()
