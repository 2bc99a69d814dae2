"""Files shipped in installed wheels, and tiktoken encodings read offline from the pinned `bpe-openai` wheel.

tiktoken looks in $TIKTOKEN_CACHE_DIR for a file named sha1(download URL) before downloading; we unpack
the wheel's gzipped copies there under those names once, so `get_encoding` never touches the network.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import sys
from functools import cache
from pathlib import Path

import tiktoken

_URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}


def _cache_dir() -> Path:
    if "RAG_TIKTOKEN_CACHE" in os.environ:
        return Path(os.environ["RAG_TIKTOKEN_CACHE"])
    # Inside the virtualenv: derived from an installed wheel, so it belongs with it (and HOME may be read-only).
    return Path(sys.prefix) / "share" / "seedrag" / "tiktoken"


def package_file(package: str, *parts: str) -> Path:
    """A file inside an installed package, found without importing (running) it."""
    # find_spec locates a package without importing (running) it.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {package!r} is not installed; run 'make install'")
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.exists():
        raise RuntimeError(f"{path} is missing from package {package!r}; reinstall it")
    return path


@cache
def encoding(name: str = "cl100k_base") -> tiktoken.Encoding:
    if name not in _URLS:
        raise ValueError(f"unknown tiktoken encoding {name!r}; choose one of {sorted(_URLS)}")
    cache_dir = _cache_dir()
    target = cache_dir / hashlib.sha1(_URLS[name].encode()).hexdigest()
    if not target.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        data = gzip.decompress(package_file("bpe_openai", "data", f"{name}.tiktoken.gz").read_bytes())
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)
    return tiktoken.get_encoding(name)
