"""The keyword search alone on both backends at a given index size: SQLite FTS5 and PostgreSQL (RAG_DATABASE_URL).

    RAG_DATABASE_URL=postgresql://... .venv/bin/python bench/keyword_backends.py ../shared/evaldata/scifact 100000

Chunks are the corpus's documents cut into ~600-character pieces, repeated under new ids until the index
holds the asked number; queries are the dataset's own, as `search_any` of their words with the candidate
pool the retriever asks for (100), run alternately on both backends. Also checks that both return the same
chunks. Writes bench/results/keyword-backends-<dataset>-<N>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.eval.retrieval import latency, load_beir  # noqa: E402
from rag.index.keyword import KeywordIndex, query_terms  # noqa: E402
from rag.index.postgres import PgKeywordIndex  # noqa: E402


def pieces(corpus: dict[str, tuple[str, str]], n: int) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """n chunks as (source, title, [(chunk id, text)]) batches of a thousand, each title in its chunk's text (one
    add() takes one title, and a batch per document would make loading, not searching, the benchmark)."""
    docs = [(title, text[i : i + 600]) for title, text in corpus.values() for i in range(0, max(len(text), 1), 600)]
    batches: list[tuple[str, str, list[tuple[str, str]]]] = []
    made = 0
    while made < n:
        for title, text in docs:
            if made >= n:
                break
            if not batches or len(batches[-1][2]) >= 1000:
                batches.append((f"/bench/{len(batches)}", "", []))
            batches[-1][2].append((f"c{made}", f"{title}. {text}"))
            made += 1
    return batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder")
    parser.add_argument("chunks", type=int)
    parser.add_argument("--database-url", default=os.environ.get("RAG_DATABASE_URL"))
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    if not args.database_url:
        parser.error("needs --database-url or RAG_DATABASE_URL")
    data = load_beir(Path(args.folder))
    batches = pieces(data.corpus, args.chunks)
    collection = f"bench-{data.name}-{args.chunks}"
    lite = KeywordIndex(Path(tempfile.mkdtemp(prefix="kwbench-")) / "keyword.sqlite")
    pg = PgKeywordIndex(args.database_url, collection)
    load: dict[str, float] = {}
    for name, index in (("sqlite", lite), ("postgres", pg)):
        t0 = time.perf_counter()
        if index.count() < args.chunks:
            for source, title, items in batches:
                index.add(source, title, items)
        load[name] = round(time.perf_counter() - t0, 1)
        print(f"{name}: {index.count():,} chunks loaded in {load[name]} s", flush=True)
    questions = [query_terms(q) for q in list(data.queries.values())[: args.queries]]
    ms: dict[str, list[float]] = {"sqlite": [], "postgres": []}
    same = 0
    for terms in questions:
        got = {}
        for name, index in (("sqlite", lite), ("postgres", pg)):
            t0 = time.perf_counter()
            got[name] = index.search_any(terms, 100)
            ms[name].append((time.perf_counter() - t0) * 1000)
        same += [c for c, _ in got["sqlite"][:10]] == [c for c, _ in got["postgres"][:10]]
    out = {
        "dataset": data.name,
        "chunks": pg.count(),
        "queries": len(questions),
        "same_top10": same,
        "load_seconds": load,
        "latency_ms": {name: latency(values) for name, values in ms.items()},
    }
    for name, values in ms.items():
        lat = latency(values)
        print(f"{name:<9} {out['chunks']:>7,} chunks  keyword search p50 {lat['p50']:6.1f}  p95 {lat['p95']:6.1f} ms")
    print(f"same top 10 on {same} of {len(questions)} queries")
    Path(f"bench/results/keyword-backends-{data.name}-{args.chunks}.json").write_text(json.dumps(out, indent=1) + "\n")
    lite.close()
    pg.close()


if __name__ == "__main__":
    main()
