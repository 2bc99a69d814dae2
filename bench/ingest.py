"""Ingestion and retrieval benchmark on public data (Cranfield, topped up with SciFact for 10k chunks).

Prints a table and writes bench/results/ingest.json:
- pipeline chunks/s (load, chunk, embed, store in Chroma and FTS5) vs the bare embedding model's chunks/s on
  the same chunk texts (the physical limit of ingestion here): ratio, aim >= 0.9;
- vs Chroma's own ONNXMiniLM_L6_V2 embedding function given the same model files: aim >= 1.5x faster;
- re-ingest of the unchanged corpus: aim <= 2% of the first ingest;
- p50/p95 retrieval latency per mode with >= 10k chunks indexed.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpora import EVALDATA, beir_queries, write_docs  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.index.embeddings import MiniLMEmbedder, minilm_files  # noqa: E402
from rag.pipeline import build  # noqa: E402


def chroma_ef_rate(texts: list[str], workdir: Path) -> float:
    """chunks/s of Chroma's ONNXMiniLM_L6_V2, pointed at our model files instead of its download."""
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    model, tokenizer = minilm_files()
    folder = workdir / "chroma-onnx" / "onnx"
    folder.mkdir(parents=True)
    (folder / "model.onnx").symlink_to(model)
    (folder / "tokenizer.json").symlink_to(tokenizer)
    for name in ("config.json", "special_tokens_map.json", "tokenizer_config.json", "vocab.txt"):
        (folder / name).write_text("{}")  # only their presence is checked; nothing is downloaded
    ef = ONNXMiniLM_L6_V2(preferred_providers=["CPUExecutionProvider"])
    ef.DOWNLOAD_PATH = folder.parent  # type: ignore[misc]
    ef(texts[:8])  # load the model outside the timing
    t = time.perf_counter()
    ef(texts)
    return len(texts) / (time.perf_counter() - t)


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-chunks", type=int, default=10_000, help="index size for the latency figures")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "ingest.json")
    parser.add_argument("--skip-chroma-ef", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="seedrag-bench-"))
    docs = work / "cranfield"
    n_docs = write_docs(EVALDATA / "cranfield", docs, "cran-")
    settings = Settings(_env_file=None, data_dir=work / "data", llm_base_url="http://127.0.0.1:9/v1")  # type: ignore[call-arg]
    embedder = MiniLMEmbedder(settings.embed_threads, settings.embed_batch_size)
    embedder.embed(["warm up"])
    pipe = build(settings, embedder=embedder)

    t = time.perf_counter()
    first = pipe.ingestor.ingest([docs])
    first_s = time.perf_counter() - t
    chunks = pipe.vectors.count()

    t = time.perf_counter()
    again = pipe.ingestor.ingest([docs])
    again_s = time.perf_counter() - t
    assert again.embedded == 0

    texts = list(pipe.keywords.texts(pipe.vectors.collection.get(include=[])["ids"]).values())
    t = time.perf_counter()
    embedder.embed(texts)
    bare_s = time.perf_counter() - t
    pipeline_rate, bare_rate = chunks / first_s, len(texts) / bare_s
    chroma_rate = None if args.skip_chroma_ef else chroma_ef_rate(texts, work)

    # Top up to the latency size with SciFact abstracts, then time queries in each mode.
    topup = 0
    if chunks < args.latency_chunks:
        sci = work / "scifact"
        write_docs(EVALDATA / "scifact", sci, "sci-")
        files = sorted(sci.iterdir())
        batch = 400
        for i in range(0, len(files), batch):
            pipe.ingestor.ingest(files[i : i + batch])
            topup += len(files[i : i + batch])
            if pipe.vectors.count() >= args.latency_chunks:
                break
    big = pipe.vectors.count()
    queries = (beir_queries(EVALDATA / "cranfield") + beir_queries(EVALDATA / "scifact"))[:300]
    latency = {}
    for mode in ("vector", "keyword", "hybrid"):
        times = []
        for q in queries:
            t = time.perf_counter()
            pipe.retriever.search(q, top_k=10, mode=mode)  # type: ignore[arg-type]
            times.append((time.perf_counter() - t) * 1000)
        latency[mode] = {"p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95)}

    result = {
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "corpus": f"Cranfield ({n_docs} abstracts) from shared/evaldata",
        "settings": {
            "chunk_tokens": settings.chunk_tokens,
            "chunk_overlap": settings.chunk_overlap,
            "embed_batch_size": settings.embed_batch_size,
        },
        "chunks": chunks,
        "first_ingest_s": first_s,
        "pipeline_chunks_per_s": pipeline_rate,
        "bare_model_chunks_per_s": bare_rate,
        "pipeline_vs_bare": pipeline_rate / bare_rate,
        "chroma_ef_chunks_per_s": chroma_rate,
        "pipeline_vs_chroma_ef": pipeline_rate / chroma_rate if chroma_rate else None,
        "reingest_unchanged_s": again_s,
        "reingest_vs_first": again_s / first_s,
        "latency_index_chunks": big,
        "latency_queries": len(queries),
        "latency_ms": latency,
        "embedded_on_first": first.embedded,
        "scifact_docs_added_for_latency": topup,
    }
    rows = [
        ("chunks ingested (Cranfield)", f"{chunks}"),
        ("pipeline: load+chunk+embed+store", f"{pipeline_rate:.1f} chunks/s ({first_s:.1f} s)"),
        ("bare embedding model, same chunks", f"{bare_rate:.1f} chunks/s"),
        ("pipeline / bare model", f"{pipeline_rate / bare_rate:.2f}  (aim >= 0.90)"),
    ]
    if chroma_rate:
        rows += [
            ("Chroma ONNXMiniLM_L6_V2, same files", f"{chroma_rate:.1f} chunks/s"),
            ("pipeline / Chroma EF", f"{pipeline_rate / chroma_rate:.2f}x  (aim >= 1.5x)"),
        ]
    rows += [("re-ingest unchanged", f"{again_s:.2f} s = {100 * again_s / first_s:.1f}% of first (aim <= 2%)")]
    for mode, v in latency.items():
        rows.append((f"retrieval {mode} @ {big} chunks", f"p50 {v['p50_ms']:.1f} ms, p95 {v['p95_ms']:.1f} ms"))
    width = max(len(r[0]) for r in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
