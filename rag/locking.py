"""One writer per index, across threads and processes.

A `rag ingest` in a terminal while `rag serve` takes an upload would otherwise both read "chunk not stored
yet", both embed it, and both insert it: the keyword index refuses the duplicate and one of them fails half
way. The thread lock serialises writers inside a process; an advisory `flock` on a file beside the index
serialises processes that share the data dir. Readers (questions) never take it.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from types import TracebackType

try:
    import fcntl
except ImportError:  # Windows: writers are serialised within one process only.
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)


class WriterLock:
    """Re-entrant within a thread; held by at most one process at a time."""

    @classmethod
    def for_index(cls, data_dir: Path, collection: str) -> WriterLock:
        """The lock of one index: a file beside it in the data dir, one per collection."""
        return cls(data_dir / f"write-{collection}.lock")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    def __enter__(self) -> WriterLock:
        self._thread.acquire()
        try:
            if self._depth == 0:
                self._fd = self._lock_file()
        except BaseException:
            self._thread.release()
            raise
        self._depth += 1
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fd, self._fd = self._fd, None
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._thread.release()

    def _lock_file(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is None:
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("another process is writing this index (%s); waiting for it to finish", self.path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
        return fd
