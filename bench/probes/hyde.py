"""HyDE-style expansion with the local model: the LLM writes a short passage that would answer the
question, and the question plus that passage goes through the default retrieval. Needs an LLM server
(the local one: `.venv/bin/python -m rag.llm.server`, or RAG_LLM_BASE_URL); generations are cached in
bench/results/probes/hyde-generations-<dataset>.json so a rerun only rescores.

    .venv/bin/python bench/probes/hyde.py ../shared/evaldata/cranfield --split dev
"""

from __future__ import annotations

import json
import statistics
import time

from common import RESULTS, dataset_parser, open_index, write
from openai import OpenAI

from rag.eval.retrieval import document_ranking, score_run
from rag.llm.model_files import MODEL_NAME

PROMPT = (
    "Write a short passage (3 sentences) from a scientific abstract that answers this question. "
    "Use precise technical terms.\nQuestion: {q}\nPassage:"
)


def main() -> None:
    p = dataset_parser(__doc__)
    p.add_argument("--base-url", default="http://127.0.0.1:8081/v1")
    p.add_argument("--model", default=MODEL_NAME)
    p.add_argument("--limit", type=int, default=None)
    args = p.parse_args()
    data, index, _ = open_index(args.folder, args.split)
    cache_path = RESULTS / f"hyde-generations-{data.name}.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    client = OpenAI(base_url=args.base_url, api_key="local", timeout=120)
    model = args.model
    items = list(data.queries.items())[: args.limit]
    seconds = []
    for n, (qid, q) in enumerate(items, 1):
        if qid in cache:
            continue
        t0 = time.perf_counter()
        r = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": PROMPT.format(q=q)}], max_tokens=90, temperature=0
        )
        seconds.append(time.perf_counter() - t0)
        cache[qid] = r.choices[0].message.content or ""
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path.write_text(json.dumps(cache, indent=1) + "\n", encoding="utf-8")
        print(f"{n}/{len(items)} {seconds[-1]:.1f} s", flush=True)
    qrels = {qid: data.qrels[qid] for qid, _ in items}
    base = score_run({qid: document_ranking(index, q) for qid, q in items}, qrels)
    hyde = score_run({qid: document_ranking(index, f"{q}\n{cache[qid]}") for qid, q in items}, qrels)
    print(f"default {base['ndcg@10']:.4f}  with the generated passage {hyde['ndcg@10']:.4f}")
    write(
        f"hyde-{data.name}",
        {
            "dataset": data.name,
            "split": data.split,
            "model": model,
            "queries": len(items),
            "generation_seconds_median": round(statistics.median(seconds), 2) if seconds else None,
            "default": base,
            "hyde": hyde,
        },
    )


if __name__ == "__main__":
    main()
