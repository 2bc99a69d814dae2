"""Shared by the probes: the eval index of a BEIR folder, built (or reused) exactly as `rag eval` builds it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rag.config import Settings  # noqa: E402
from rag.eval.retrieval import BeirData, EvalIndex, build_index, load_beir  # noqa: E402
from rag.index.embeddings import MiniLMEmbedder  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "probes"


def dataset_parser(doc: str | None) -> argparse.ArgumentParser:
    """The arguments every probe takes: a BEIR folder and its split; a probe may add its own."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder")
    p.add_argument("--split", default=None)
    return p


def open_index(folder: str, split: str | None) -> tuple[BeirData, EvalIndex, MiniLMEmbedder]:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    embedder = MiniLMEmbedder(settings.embed_threads, settings.embed_batch_size)
    data = load_beir(Path(folder), split)
    return data, build_index(data, settings, embedder, progress=True), embedder


def doc_ranking(index: EvalIndex, chunk_ids: list[str], depth: int = 100) -> list[str]:
    """Documents by their best chunk, as the harness ranks them."""
    return list(dict.fromkeys(index.doc_of_chunk[c] for c in chunk_ids if c in index.doc_of_chunk))[:depth]


def write(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)}")
    return path
