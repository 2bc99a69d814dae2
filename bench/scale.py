"""Cost as the index grows: ingest rate per slice, time by stage, and search latency at checkpoints.

Grows one index to N chunks (default 100,000) from public corpora in ../shared/evaldata, written out as
.txt files (Cranfield, the CMU QA articles, then SciFact repeated in copies with distinct file names, as
many as N needs; the copies hold the same text, as the issue's 85k-chunk measurement did). Files go
through the normal `Ingestor.ingest` in calls of --files-per-call files, as a folder growing over time
would. Printed and written to bench/results/scale-<embedder>.json:

- chunks/s per slice of about --slice chunks, with the time of each stage (reading, chunking, embedding,
  Chroma writes, keyword writes, manifest, id look-ups). Chroma and keyword writes run in the ingest's
  writer thread while the next step embeds, so with the real model the stages add up to more than the
  wall time; with the fake embedder they are serial, and the sum is our own overhead;
- the bare embedder's rate on a sample of the same chunk texts, and the pipeline's rate over it;
- search p50/p95 (hybrid, default retriever settings, top_k 5 as the API asks) at the --checkpoints,
  over a fixed set of real queries (Cranfield, SciFact, CMU), with the time of each search step.

--embedder fake (the default) replaces the model by a hash of the text -> a unit vector of the model's
dimension, with the real tokenizer for chunking: what is left is our own overhead, measured in minutes on a
shared machine. --embedder real is the all-MiniLM-L6-v2 the product uses. With the fake embedder the
"ratio" line is a projection: the bare model's measured rate (--bare-rate, chunks/s) against that rate
slowed by our measured overhead per chunk.

Settings flow through: RAG_* variables are read as by `rag`; --database-url sets Settings.database_url
(the shared Postgres backend, where the branch has it), --chroma-url a Chroma server, --set NAME=VALUE any
other setting. Each run uses a fresh collection and a fresh data dir (--work) so nothing is reused.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpora import EVALDATA, beir_docs  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.index.embeddings import MiniLMEmbedder, minilm_files  # noqa: E402
from rag.ingest.chunking import Span  # noqa: E402
from rag.ingest.indexer import FileResult, Ingestor  # noqa: E402
from rag.ingest.loaders import Document  # noqa: E402
from rag.pipeline import build  # noqa: E402
from rag.retrieval.retriever import Retriever  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"

# Which stage each storage call belongs to. Names not listed count as "other storage" (another backend's).
INGEST_STAGES = {
    "upsert": "Chroma writes",
    "update_meta": "Chroma writes",
    "delete": "Chroma/keyword deletes",
    "ids_by_source": "id look-ups",
    "ids_for": "id look-ups",
    "chunk_ids": "id look-ups",
    "chunk_ids_by_source": "id look-ups",
    "add": "keyword writes",
    "record": "manifest",
    "records": "manifest",
    "records_for": "manifest",
    "put_record": "manifest",
    "forget": "manifest",
    "embed": "embedding",
    "count_tokens": None,  # inside chunking, timed there
    "transaction": None,  # the writes inside it are timed
}
SEARCH_STAGES = {
    "embed": "query embedding",
    "nearest": "vector search",
    "query": "vector search",
    "search_any": "keyword search",
    "doc_freq": "feedback terms (df)",
    "count": "counts",
    "get": "Chroma get",
    "texts": "text look-up",
    "count_tokens": None,
}


class Clock:
    """Seconds per stage, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: dict[str, float] = defaultdict(float)

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] += seconds

    def take(self) -> dict[str, float]:
        with self._lock:
            out, self.seconds = dict(self.seconds), defaultdict(float)
        return out


class Timed:
    """A component whose method calls are timed into a Clock by stage (attributes pass through)."""

    def __init__(self, inner: Any, clock: Clock, stages: dict[str, str | None], other: str) -> None:
        self._inner, self._clock, self._stages, self._other = inner, clock, stages, other

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value) or name.startswith("_"):
            return value
        stage = self._stages.get(name, self._other)
        if stage is None:
            return value

        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                self._clock.add(stage, time.perf_counter() - t)

        return timed


class TimedIngestor(Ingestor):
    """The real Ingestor; reading and chunking timed, and a sample of chunk texts kept for the bare rate."""

    clock: Clock
    sample: list[str]

    def read(self, path: Path, source: str | None = None) -> Document | FileResult:
        t = time.perf_counter()
        try:
            return super().read(path, source)
        finally:
            self.clock.add("reading", time.perf_counter() - t)

    def chunk(self, doc: Document) -> list[Span]:
        t = time.perf_counter()
        spans = super().chunk(doc)
        self.clock.add("chunking", time.perf_counter() - t)
        self.sample.extend(s.text for s in spans[::7])  # every 7th chunk: spread over the whole run
        return spans


class FakeEmbedder:
    """Hash of the text -> a unit vector of MiniLM's dimension; MiniLM's tokenizer for counting tokens, so
    that chunks are exactly those of the real model. Same text, same vector (as with the model)."""

    name = "fake-sha256-384"
    max_tokens = MiniLMEmbedder.max_tokens
    floor = MiniLMEmbedder.floor
    dim = MiniLMEmbedder.dim

    def __init__(self) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(minilm_files()[1]))
        self.tokenizer.enable_truncation(self.max_tokens)
        self.tokenizer.no_padding()

    def count_tokens(self, text: str) -> int:
        enc = self.tokenizer.encode(text)
        return len(enc.ids) + sum(len(o.ids) for o in enc.overflowing)

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out


# --- the corpus -------------------------------------------------------------------------------------------
def _write(out: Path, docs: Iterator[tuple[str, str, str]], prefix: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for doc_id, title, text in docs:
        if not text.strip():
            continue
        path = out / f"{prefix}{doc_id.replace('/', '_')}.txt"
        path.write_text(f"{title}\n\n{text}\n", encoding="utf-8")
        files.append(path)
    return files


def corpus_files(work: Path, copies: int) -> Iterator[list[Path]]:
    """Cranfield, the CMU articles, then `copies` copies of SciFact: each part's files, in order."""
    yield _write(work / "cranfield", beir_docs(EVALDATA / "cranfield"), "cran-")
    yield _write(work / "cmu", beir_docs(EVALDATA / "cmu-qa"), "cmu-")
    scifact = [(i, t, x) for i, t, x in beir_docs(EVALDATA / "scifact")]
    for c in range(copies):
        yield _write(work / f"scifact{c}", iter(scifact), f"sci{c}-")


def queries(n: int) -> list[str]:
    """A fixed mix of real questions: Cranfield, SciFact and CMU, a third each, in file order."""
    out: list[str] = []
    per = -(-n // 3)
    for name in ("cranfield", "scifact", "cmu-qa"):
        with (EVALDATA / name / "queries.jsonl").open(encoding="utf-8") as f:
            out += [json.loads(line)["text"] for _, line in zip(range(per), f, strict=False)]
    return out[:n]


# --- measuring ---------------------------------------------------------------------------------------------
def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def search_latency(retriever: Retriever, clock: Clock, questions: list[str]) -> dict[str, Any]:
    retriever.search(questions[0])  # warm caches once
    clock.take()
    ms = []
    for q in questions:
        t = time.perf_counter()
        retriever.search(q)
        ms.append((time.perf_counter() - t) * 1000)
    steps = {k: v * 1000 / len(questions) for k, v in clock.take().items()}
    return {
        "queries": len(questions),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "mean_step_ms": steps,
    }


def bare_rate(embedder: Any, texts: list[str]) -> float:
    embedder.embed(texts[:16])
    t = time.perf_counter()
    embedder.embed(texts)
    return len(texts) / (time.perf_counter() - t)


def make_settings(args: argparse.Namespace, data_dir: Path) -> Settings:
    values: dict[str, Any] = {"data_dir": data_dir, "collection": f"scale{int(time.time())}"}
    values.setdefault("llm_base_url", os.environ.get("RAG_LLM_BASE_URL", "http://127.0.0.1:9/v1"))  # never called
    if args.chroma_url:
        values["chroma_url"] = args.chroma_url
    if args.database_url:
        if "database_url" not in Settings.model_fields:
            sys.exit("this branch's Settings has no database_url (the shared backend is on branch issue13)")
        values["database_url"] = args.database_url
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in Settings.model_fields:
            sys.exit(f"--set {item}: no setting named {name!r} (see `rag config`)")
        values[name] = value
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def bare_only(args: argparse.Namespace) -> None:
    import sqlite3

    db = sqlite3.connect(f"file:{args.bare_from}?mode=ro", uri=True)
    texts = [t for (t,) in db.execute("SELECT text FROM chunks_fts ORDER BY rowid")]
    sample = texts[:: max(1, len(texts) // args.sample)][: args.sample]
    embedder: Any = FakeEmbedder() if args.embedder == "fake" else MiniLMEmbedder()
    bare = bare_rate(embedder, sample)
    out = args.out or RESULTS / f"scale-{args.embedder}.json"
    result = json.loads(out.read_text(encoding="utf-8"))
    last = result["slices"][-1]
    result |= {
        "bare_embedder_chunks_per_s": bare,
        "bare_sample": len(sample),
        "last_slice_vs_bare": last["chunks_per_s"] / bare,
        "ratio_basis": "measured: last slice / bare embedder (timed after the run, on a sample of its chunks)",
    }
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(
        f"bare embedder on {len(sample)} of {len(texts)} chunks: {bare:.1f} chunks/s; last slice / bare: "
        f"{last['chunks_per_s'] / bare:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=100_000, help="grow the index to this many chunks")
    parser.add_argument("--embedder", choices=("fake", "real"), default="fake")
    parser.add_argument("--slice", type=int, default=10_000, help="report the ingest rate per slice of ~N chunks")
    parser.add_argument(
        "--checkpoints", default="10000,50000,100000", help="index sizes (chunks) at which search is timed"
    )
    parser.add_argument("--queries", type=int, default=90, help="search queries timed at each checkpoint")
    parser.add_argument("--files-per-call", type=int, default=500, help="files handed to one ingest() call")
    parser.add_argument("--sample", type=int, default=2000, help="chunk texts the bare embedder is timed on")
    parser.add_argument(
        "--bare-rate", type=float, default=85.0, help="fake embedder: the real model's chunks/s to project against"
    )
    parser.add_argument("--database-url", help="Settings.database_url (the shared Postgres backend, branch issue13)")
    parser.add_argument("--chroma-url", help="a Chroma server instead of files on disk")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="any other setting")
    parser.add_argument("--work", type=Path, help="where corpus files and the index go (default: a temp dir, removed)")
    parser.add_argument("--out", type=Path, help="JSON path (default bench/results/scale-<embedder>.json)")
    parser.add_argument(
        "--bare-from",
        type=Path,
        metavar="KEYWORD_SQLITE",
        help="only time the bare embedder on a sample of that index's chunks; add it to --out (a run stopped early)",
    )
    args = parser.parse_args()
    if args.bare_from:
        bare_only(args)
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="seedrag-scale-"))
    settings = make_settings(args, work / "data")
    checkpoints = sorted(int(c) for c in args.checkpoints.split(",") if c)
    embedder: Any = FakeEmbedder() if args.embedder == "fake" else MiniLMEmbedder(settings.embed_threads)
    pipe = build(settings, embedder=embedder)
    clock = Clock()
    ingestor = TimedIngestor(
        settings,
        Timed(embedder, clock, INGEST_STAGES, "embedding"),
        Timed(pipe.vectors, clock, INGEST_STAGES, "other storage"),  # type: ignore[arg-type]
        Timed(pipe.keywords, clock, INGEST_STAGES, "other storage"),  # type: ignore[arg-type]
        pipe.ingestor.lock,
    )
    ingestor.clock, ingestor.sample = clock, []
    retriever = Retriever(
        settings,
        Timed(embedder, clock, SEARCH_STAGES, "query embedding"),
        Timed(pipe.vectors, clock, SEARCH_STAGES, "other search"),  # type: ignore[arg-type]
        Timed(pipe.keywords, clock, SEARCH_STAGES, "other search"),  # type: ignore[arg-type]
    )
    questions = queries(args.queries)
    scifact_chunks = 18_400  # about; only sizes how many copies to write
    copies = max(1, -(-(args.chunks - 12_300) // scifact_chunks))

    slices: list[dict[str, Any]] = []
    searches: list[dict[str, Any]] = []
    total, files_done, started = 0, 0, time.perf_counter()
    cur: dict[str, Any] = {"from": 0, "seconds": 0.0, "cpu": 0.0, "files": 0, "stages": defaultdict(float)}
    pending_checks = list(checkpoints)

    def close_slice() -> None:
        nonlocal cur
        chunks = total - cur["from"]
        row = {
            "from": cur["from"],
            "to": total,
            "chunks": chunks,
            "files": cur["files"],
            "seconds": cur["seconds"],
            "chunks_per_s": chunks / cur["seconds"] if cur["seconds"] else 0.0,
            "cpu_s": cur["cpu"],  # all threads of this process: steadier than wall time on a shared machine
            "cpu_ms_per_chunk": 1000 * cur["cpu"] / chunks if chunks else 0.0,
            "stages_s": dict(cur["stages"]),
        }
        slices.append(row)
        st = ", ".join(f"{k} {v:.1f}" for k, v in sorted(row["stages_s"].items(), key=lambda kv: -kv[1]))
        print(
            f"{row['from']:>7}-{row['to']:<7} {row['chunks_per_s']:7.1f} chunks/s "
            f"{row['cpu_ms_per_chunk']:5.2f} cpu ms/chunk ({row['seconds']:.1f} s: {st})"
        )
        cur = {"from": total, "seconds": 0.0, "cpu": 0.0, "files": 0, "stages": defaultdict(float)}

    out = args.out or RESULTS / f"scale-{args.embedder}.json"
    out.parent.mkdir(parents=True, exist_ok=True)

    def save_partial() -> None:  # a run stopped early keeps what it measured
        partial = {"partial": True, "embedder": embedder.name, "chunks": total, "slices": slices, "search": searches}
        out.write_text(json.dumps(partial, indent=1) + "\n", encoding="utf-8")

    print(f"work dir {work}; embedder {embedder.name}; collection {settings.collection}")
    done = False
    for part in corpus_files(work / "corpus", copies):
        for b in range(0, len(part), args.files_per_call):
            files = part[b : b + args.files_per_call]
            clock.take()
            t, cpu = time.perf_counter(), time.process_time()
            report = ingestor.ingest(files)
            seconds = time.perf_counter() - t
            cur["cpu"] += time.process_time() - cpu
            total += sum(r.chunks for r in report.results if r.status in ("added", "updated"))
            files_done += len(files)
            cur["seconds"] += seconds
            cur["files"] += len(files)
            for k, v in clock.take().items():
                cur["stages"][k] += v
            if total - cur["from"] >= args.slice:
                close_slice()
                save_partial()
            while pending_checks and total >= pending_checks[0]:
                pending_checks.pop(0)
                lat = {"chunks": total, **search_latency(retriever, clock, questions)}
                searches.append(lat)
                save_partial()
                print(
                    f"search @ {total} chunks: p50 {lat['p50_ms']:.1f} ms, p95 {lat['p95_ms']:.1f} ms",
                    {k: round(v, 1) for k, v in lat["mean_step_ms"].items()},
                )
            if total >= args.chunks:
                done = True
                break
        if done:
            break
    if total > cur["from"]:
        if slices and total - cur["from"] < args.slice // 2:  # a short tail joins the slice before it
            prev = slices.pop()
            cur["from"] = prev["from"]
            cur["files"] += prev["files"]
            cur["seconds"] += prev["seconds"]
            cur["cpu"] += prev["cpu_s"]
            for k, v in prev["stages_s"].items():
                cur["stages"][k] += v
        close_slice()
    if pending_checks:  # the last checkpoint at whatever size was reached
        searches.append({"chunks": total, **search_latency(retriever, clock, questions)})
    ingest_s = time.perf_counter() - started

    sample = ingestor.sample[:: max(1, len(ingestor.sample) // args.sample)][: args.sample]
    bare = bare_rate(embedder, sample)
    last = slices[-1]
    if args.embedder == "real":
        ratio, basis = last["chunks_per_s"] / bare, "measured: last slice / bare embedder"
    else:  # our overhead per chunk in the last slice (all but the fake's own cost), added to the model's
        overhead = last["seconds"] / last["chunks"] - 1 / bare
        cpu_overhead = last["cpu_s"] / last["chunks"] - 1 / bare
        ratio = (1 / args.bare_rate) / (1 / args.bare_rate + overhead)
        cpu_ratio = (1 / args.bare_rate) / (1 / args.bare_rate + cpu_overhead)
        basis = (
            f"projected: model at {args.bare_rate} chunks/s plus our overhead of {overhead * 1000:.2f} ms/chunk "
            f"(wall; by CPU time {cpu_overhead * 1000:.2f} ms/chunk, ratio {cpu_ratio:.2f})"
        )

    result = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load": os.getloadavg()},
        "embedder": embedder.name,
        "settings": {
            k: v for k, v in settings.shown().items() if k in ("chunk_tokens", "embed_batch_size", "chroma_url")
        }
        | {"database_url": bool(getattr(settings, "database_url", None))},
        "chunks": total,
        "files": files_done,
        "ingest_s": ingest_s,
        "files_per_call": args.files_per_call,
        "slices": slices,
        "bare_embedder_chunks_per_s": bare,
        "bare_sample": len(sample),
        "last_slice_vs_bare": ratio,
        "ratio_basis": basis,
        "search": searches,
    }
    print()
    print(f"{'slice (chunks)':<18} {'chunks/s':>9} {'cpu ms/chunk':>12}  {'s':>6}  stages (s)")
    for s in slices:
        st = ", ".join(f"{k} {v:.1f}" for k, v in sorted(s["stages_s"].items(), key=lambda kv: -kv[1]))
        print(
            f"{s['from']:>7}-{s['to']:<10} {s['chunks_per_s']:9.1f} {s['cpu_ms_per_chunk']:12.2f}  "
            f"{s['seconds']:6.1f}  {st}"
        )
    print(f"bare embedder on {len(sample)} of the same chunks: {bare:.1f} chunks/s")
    print(f"last slice / bare embedder: {ratio:.2f} ({basis})  goal >= 0.8")
    for s in searches:
        steps = ", ".join(f"{k} {v:.1f}" for k, v in sorted(s["mean_step_ms"].items(), key=lambda kv: -kv[1]))
        print(
            f"search @ {s['chunks']:>6} chunks: p50 {s['p50_ms']:.1f} ms, p95 {s['p95_ms']:.1f} ms  (mean ms: {steps})"
        )
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    pipe.close()
    ingestor.close()
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
