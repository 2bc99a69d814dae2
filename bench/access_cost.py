"""What access rules cost a search (issue 20): search p50/p95 with rules on against rules off, as the index grows.

The index is grown as bench/scale.py grows it (the same corpus files, the fake embedder by default: a hash of the
text -> a unit vector, so what is measured is our own and Chroma's cost, not the model's), through the real
`Ingestor`, with each document given one of 10 groups at random or made public (11 choices, uniform; seeded).
At each checkpoint the same real questions (Cranfield, SciFact, CMU) are searched (hybrid, default retriever
settings, top_k 5 as the API asks) by three kinds of reader, interleaved question by question so that load
on a shared machine falls on all three alike:

- rules off: no reader, no filter (`rag eval`, the CLI, an admin key) - the search as it was before rules;
- public key: a plain RAG_API_KEYS key, which reads documents readable by everyone (one group);
- user in 2 groups: users each in 2 of the 10 groups (and everyone), a different user per question;
- user in 2 groups, where: the same users, with the vector side always filtered by Chroma's own `where`
  (Retriever.vector_filter = "where") instead of reading deeper into the unfiltered ranking - the layout
  and strategy compared.

Printed as a table and written to bench/results/access-cost-<embedder>.json, with the mean time of each
search step (vector search, keyword search, Chroma get, ...) per reader kind.

    nice -n 5 python bench/access_cost.py --chunks 100000 --checkpoints 10000,50000,100000
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scale import (  # noqa: E402
    SEARCH_STAGES,
    Clock,
    FakeEmbedder,
    Timed,
    corpus_files,
    make_settings,
    percentile,
    queries,
)
from rag.access import EVERYONE, Reader  # noqa: E402
from rag.index.embeddings import MiniLMEmbedder  # noqa: E402
from rag.pipeline import build  # noqa: E402
from rag.retrieval.retriever import Retriever  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
STAGES = SEARCH_STAGES | {"readable": "readable check (manifest)"}
GROUPS = [f"team{i}" for i in range(10)]


def readers(n: int, rng: random.Random) -> dict[str, list[Reader | None]]:
    """The readers of each kind, one per question in turn."""
    users = [Reader(f"user{i}", frozenset(rng.sample(GROUPS, 2))) for i in range(n)]
    return {
        "rules off": [None],
        "public key": [Reader.public()],
        "user in 2 groups": list(users),
        WHERE: list(users),
    }


WHERE = "user in 2 groups, where"


def timed_search(
    retriever: Retriever, clock: Clock, questions: list[str], kinds: dict[str, list[Reader | None]]
) -> dict[str, Any]:
    def strategy(kind: str) -> None:
        retriever.vector_filter = "where" if kind == WHERE else "adaptive"

    for kind, rs in kinds.items():  # warm caches once per kind
        strategy(kind)
        retriever.search(questions[0], reader=rs[0])
    ms: dict[str, list[float]] = {k: [] for k in kinds}
    steps: dict[str, dict[str, float]] = {k: {} for k in kinds}
    found: dict[str, list[int]] = {k: [] for k in kinds}
    for i, q in enumerate(questions):
        order = list(kinds)
        order = order[i % len(order) :] + order[: i % len(order)]  # each kind first as often as the others
        for kind in order:
            reader = kinds[kind][i % len(kinds[kind])]
            strategy(kind)
            clock.take()
            t = time.perf_counter()
            got = retriever.search(q, reader=reader, floor=-1.0)
            ms[kind].append((time.perf_counter() - t) * 1000)
            found[kind].append(len(got))
            for stage, s in clock.take().items():
                steps[kind][stage] = steps[kind].get(stage, 0.0) + s * 1000 / len(questions)
    out: dict[str, Any] = {}
    for kind in kinds:
        out[kind] = {
            "p50_ms": percentile(ms[kind], 50),
            "p95_ms": percentile(ms[kind], 95),
            "mean_step_ms": steps[kind],
            "min_passages": min(found[kind]),  # the top k stays full for every reader
        }
    base = out["rules off"]["p50_ms"]
    for kind in kinds:
        out[kind]["x_rules_off_p50"] = out[kind]["p50_ms"] / base
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedder", choices=("fake", "real"), default="fake")
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--checkpoints", default="10000,50000,100000")
    parser.add_argument("--queries", type=int, default=90)
    parser.add_argument("--files-per-call", type=int, default=500)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--database-url", help="the shared PostgreSQL backend (needs --chroma-url)")
    parser.add_argument("--chroma-url", help="a Chroma server instead of files on disk")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="any other setting")
    parser.add_argument("--work", type=Path, help="where corpus files and the index go (default: a temp dir, removed)")
    parser.add_argument("--out", type=Path, help="JSON path (default bench/results/access-cost-<embedder>.json)")
    parser.add_argument(
        "--measure-only",
        metavar="COLLECTION",
        help="search an index an earlier run left in --work (its collection, as printed) instead of growing one",
    )
    args = parser.parse_args()
    if args.measure_only and not args.work:
        sys.exit("--measure-only needs --work: the folder the earlier run kept")

    rng = random.Random(args.seed)
    work = args.work or Path(tempfile.mkdtemp(prefix="seedrag-access-"))
    settings = make_settings(args, work / "data")
    if args.measure_only:
        settings = settings.model_copy(update={"collection": args.measure_only})
    print(f"collection {settings.collection} in {work}", flush=True)
    embedder: Any = FakeEmbedder() if args.embedder == "fake" else MiniLMEmbedder(settings.embed_threads)
    pipe = build(settings, embedder=embedder)
    clock = Clock()
    retriever = Retriever(
        settings,
        Timed(embedder, clock, STAGES, "query embedding"),
        Timed(pipe.vectors, clock, STAGES, "other search"),  # type: ignore[arg-type]
        Timed(pipe.keywords, clock, STAGES, "other search"),  # type: ignore[arg-type]
    )
    questions = queries(args.queries)
    kinds = readers(args.queries, rng)
    checkpoints = sorted(int(c) for c in args.checkpoints.split(",") if c)
    copies = max(1, -(-(args.chunks - 12_300) // 18_400))
    total, searches, started = 0, [], time.perf_counter()
    per_group: dict[str, int] = {}
    try:
        if args.measure_only:
            checkpoints = []
            total = pipe.vectors.count()
            searches.append({"chunks": total, **timed_search(retriever, clock, questions, kinds)})
            print(_row(searches[-1]), flush=True)
        for part in [] if args.measure_only else corpus_files(work / "corpus", copies):
            for b in range(0, len(part), args.files_per_call):
                batch = part[b : b + args.files_per_call]
                groups = {}
                for f in batch:
                    g = rng.choice([*GROUPS, EVERYONE])
                    groups[str(f.resolve())] = (g,)
                    per_group[g] = per_group.get(g, 0) + 1
                read = [pipe.ingestor.read(f) for f in batch]
                results = pipe.ingestor.index(read, groups=groups)
                total += sum(r.chunks for r in results if r.status != "skipped")
                while checkpoints and total >= checkpoints[0]:
                    checkpoints.pop(0)
                    lat = {"chunks": total, **timed_search(retriever, clock, questions, kinds)}
                    searches.append(lat)
                    print(_row(lat), flush=True)
                if total >= args.chunks:
                    break
            if total >= args.chunks:
                break
        if checkpoints:  # the corpus ran out first: measure what there is
            lat = {"chunks": total, **timed_search(retriever, clock, questions, kinds)}
            searches.append(lat)
            print(_row(lat), flush=True)
    finally:
        pipe.close()
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    result = {
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "embedder": embedder.name,
        "layout": "one boolean metadata key per group (grp:<name>); Chroma's where: $or over the reader's groups",
        "groups": GROUPS,
        "documents_per_group": per_group,
        "queries": len(questions),
        "seconds": time.perf_counter() - started,
        "search": searches,
    }
    out = args.out or RESULTS / f"access-cost-{args.embedder}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {out}")


def _row(lat: dict[str, Any]) -> str:
    cells = []
    for kind in ("rules off", "public key", "user in 2 groups", WHERE):
        k = lat[kind]
        cells.append(f"{kind}: p50 {k['p50_ms']:6.1f} ms p95 {k['p95_ms']:6.1f} ms ({k['x_rules_off_p50']:.2f}x)")
    return f"{lat['chunks']:>7} chunks | " + " | ".join(cells)


if __name__ == "__main__":
    main()
