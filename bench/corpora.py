"""Public corpora for benchmarks, written out as plain files the loader reads (BEIR layout in, .txt out)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

EVALDATA = Path(__file__).resolve().parent.parent.parent / "shared" / "evaldata"


def beir_docs(folder: Path) -> Iterator[tuple[str, str, str]]:
    """(doc_id, title, text) from a BEIR corpus.jsonl or corpus.jsonl.gz."""
    path = folder / "corpus.jsonl"
    opener = open if path.exists() else gzip.open
    path = path if path.exists() else folder / "corpus.jsonl.gz"
    with opener(path, "rt", encoding="utf-8") as f:  # type: ignore[operator]
        for line in f:
            row = json.loads(line)
            yield str(row["_id"]), row.get("title") or "", row.get("text") or ""


def beir_queries(folder: Path) -> list[str]:
    with (folder / "queries.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f]


def write_docs(folder: Path, out: Path, prefix: str, limit: int | None = None) -> int:
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for doc_id, title, text in beir_docs(folder):
        if not text.strip():
            continue
        (out / f"{prefix}{doc_id}.txt").write_text(f"{title}\n\n{text}\n", encoding="utf-8")
        n += 1
        if limit and n >= limit:
            break
    return n
