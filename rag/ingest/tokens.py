"""tiktoken encodings, offline: the BPE files come from the pinned `bpe-openai` wheel.

tiktoken looks in $TIKTOKEN_CACHE_DIR for a file named sha1(download URL) before downloading; we unpack
the wheel's gzipped copies there under those names once, so `get_encoding` never touches the network.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
from functools import cache
from pathlib import Path

import tiktoken

from rag.index.embeddings import _package_file

_URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}


def _cache_dir() -> Path:
    if "RAG_TIKTOKEN_CACHE" in os.environ:
        return Path(os.environ["RAG_TIKTOKEN_CACHE"])
    # Inside the virtualenv: derived from an installed wheel, so it belongs with it (and HOME may be read-only).
    return Path(sys.prefix) / "share" / "seedrag" / "tiktoken"


@cache
def encoding(name: str = "cl100k_base") -> tiktoken.Encoding:
    if name not in _URLS:
        raise ValueError(f"unknown tiktoken encoding {name!r}; choose one of {sorted(_URLS)}")
    cache_dir = _cache_dir()
    target = cache_dir / hashlib.sha1(_URLS[name].encode()).hexdigest()
    if not target.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        data = gzip.decompress(_package_file("bpe_openai", "data", f"{name}.tiktoken.gz").read_bytes())
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
    return tiktoken.get_encoding(name)
