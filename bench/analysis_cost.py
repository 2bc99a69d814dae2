"""What the language-aware keyword analysis costs at ingest, beside embedding the same chunks.

    PYTHONPATH=$PWD python bench/analysis_cost.py --per-language 60

For XQuAD paragraphs of each language, cut into the pipeline's chunks: seconds per chunk to detect the language
and analyse title and text (rag.index.terms.chunk_terms, as both keyword backends do at ingest), against
MiniLM's embedding of the same chunks. The segmenters and langid are loaded before timing (once per process
in real use: ~1-2 s each, reported). Writes bench/results/analysis-cost.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from collections import defaultdict
from pathlib import Path

from rag.config import Settings
from rag.index.embeddings import MiniLMEmbedder
from rag.index.terms import chunk_terms
from rag.ingest.chunking import chunk_text
from rag.text import words
from rag.text.language import _langid
from rag.tokens import encoding

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("/work/shared/evaldata/xquad"))
    ap.add_argument("--per-language", type=int, default=60)
    args = ap.parse_args()
    loads = {}
    for name, warm in (
        ("langid", lambda: _langid()),
        ("jieba", lambda: words("北京", "zh")),
        ("pythainlp", lambda: words("ภาษา", "th")),
    ):
        start = time.perf_counter()
        warm()
        loads[name] = round(time.perf_counter() - start, 2)
    settings = Settings()
    embedder = MiniLMEmbedder()
    paragraphs: dict[str, list[str]] = defaultdict(list)
    with gzip.open(args.data / "corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if len(paragraphs[row["metadata"]["lang"]]) < args.per_language:
                paragraphs[row["metadata"]["lang"]].append(row["text"])
    result: dict[str, dict[str, float]] = {}
    for lang, texts in sorted(paragraphs.items()):
        enc = encoding(settings.tiktoken_encoding)
        chunks = [s.text for t in texts for s in chunk_text(t, enc, settings.chunk_tokens, settings.chunk_overlap)]
        start = time.perf_counter()
        for c in chunks:
            chunk_terms("", c)
        analyse = (time.perf_counter() - start) / len(chunks) * 1000
        start = time.perf_counter()
        embedder.embed(chunks)
        embed = (time.perf_counter() - start) / len(chunks) * 1000
        result[lang] = {"chunks": len(chunks), "analyse_ms": round(analyse, 2), "embed_ms": round(embed, 2)}
        print(f"{lang}: {len(chunks)} chunks, analyse {analyse:.2f} ms, embed {embed:.2f} ms per chunk")
    out = ROOT / "bench" / "results" / "analysis-cost.json"
    out.write_text(json.dumps({"load_seconds": loads, "per_language": result}, indent=1) + "\n")
    print(f"loads {loads}; wrote {out}")


if __name__ == "__main__":
    main()
