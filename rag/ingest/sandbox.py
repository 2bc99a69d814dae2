"""Reading files in a worker process, stopped at a time and memory limit.

A few kilobytes of PDF or HTML can cost minutes of CPU or gigabytes of memory (pages sharing one compressed
stream, a decompression bomb, tens of thousands of nested tags). A thread cannot be stopped, so the parsing
runs in a separate process (Pebble's pool: a worker that overruns is killed and replaced) with an address-space
limit. Whatever happens to one file, the result is its Document or the reason it was skipped.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from pebble import ProcessExpired, ProcessPool

from rag.ingest.loaders import Document, LoadError, load

log = logging.getLogger(__name__)
# Formats whose parsers a small file can make work hard (Office files are zip archives: zip bombs).
PARSED = {".pdf", ".html", ".htm", ".docx", ".pptx", ".xlsx"}


def _limit_memory(max_bytes: int) -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))
    except (ImportError, ValueError, OSError):  # not on this platform: the time limit still holds
        pass


def _load_in_worker(path: str, max_bytes: int, max_text_chars: int, source: str | None) -> Document:
    try:
        return load(Path(path), max_bytes, max_text_chars, source)
    except LoadError:
        raise
    except MemoryError:
        raise LoadError("needs more memory than a file may use (RAG_MAX_PARSE_MEMORY_MB)") from None
    except OSError as e:
        raise LoadError(f"cannot read: {e.strerror or e}") from None
    except (Exception, RecursionError) as e:  # a parser's own bug on a hostile file: this file only
        raise LoadError(f"unreadable ({type(e).__name__}: {str(e)[:200]})") from None


class Reader:
    """`read(path)` -> Document, or LoadError with the reason. Two worker processes, started on first use."""

    def __init__(self, max_bytes: int, max_text_chars: int, timeout: float, memory_mb: int) -> None:
        self.max_bytes = max_bytes
        self.max_text_chars = max_text_chars
        self.timeout = timeout
        self.memory_bytes = memory_mb * 1024 * 1024
        self._pool: ProcessPool | None = None
        self._lock = threading.Lock()

    def read(self, path: Path, source: str | None = None) -> Document:
        args = (str(path), self.max_bytes, self.max_text_chars, source)
        if Path(source or path).suffix.lower() not in PARSED:
            # Plain text is decoded, not parsed: linear in its size, which is capped. Not worth a process.
            return _load_in_worker(*args)
        # A fresh interpreter ('spawn'), not a fork of this one: the limit then applies to the reader alone,
        # not to the embedding model and Chroma it would inherit, and no lock held by another thread is copied.
        future = self._get_pool().schedule(_load_in_worker, args=args, timeout=self.timeout)
        try:
            return future.result()
        except FutureTimeout:
            raise LoadError(f"took longer than {self.timeout:g}s to read (RAG_MAX_PARSE_SECONDS)") from None
        except ProcessExpired as e:
            raise LoadError(f"the reader process died reading it (exit code {e.exitcode})") from None

    def _get_pool(self) -> ProcessPool:
        with self._lock:
            if self._pool is None or not self._pool.active:
                self._pool = ProcessPool(
                    max_workers=2,
                    initializer=_limit_memory,
                    initargs=(self.memory_bytes,),
                    context=multiprocessing.get_context("spawn"),
                )
            return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.stop()
                self._pool.join(timeout=5)
                self._pool = None
