"""One writer per index, across threads and processes.

A `rag ingest` in a terminal while `rag serve` takes an upload would otherwise both read "chunk not stored
yet", both embed it, and both insert it: the keyword index refuses the duplicate and one of them fails half
way. The thread lock serialises writers inside a process; an advisory `flock` on a file beside the index
serialises processes that share the data dir. Readers (questions) never take it. With the keyword index in a
shared PostgreSQL (RAG_DATABASE_URL), replicas on other machines write the same index: AdvisoryLock takes a
PostgreSQL advisory lock instead, which the server frees when the holder's connection ends, even by kill -9.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

try:
    import fcntl
except ImportError:  # Windows: writers are serialised within one process only.
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)


class IndexLock(Protocol):
    """The writer lock of one index: a context manager, re-entrant within a thread."""

    def __enter__(self) -> Any: ...
    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    def close(self) -> None: ...


class _Reentrant:
    """Re-entrant within a thread, exclusive between threads: the outermost enter takes the process-wide lock
    (`_acquire`), the outermost exit gives it back (`_release`)."""

    def __init__(self) -> None:
        self._thread = threading.RLock()
        self._depth = 0

    def __enter__(self) -> Any:
        self._thread.acquire()
        try:
            if self._depth == 0:
                self._acquire()
        except BaseException:
            self._thread.release()
            raise
        self._depth += 1
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self._depth -= 1
        try:
            if self._depth == 0:
                self._release()
        finally:
            self._thread.release()

    def _acquire(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError


class WriterLock(_Reentrant):
    """Re-entrant within a thread; held by at most one process at a time."""

    @classmethod
    def for_index(cls, data_dir: Path, collection: str) -> WriterLock:
        """The lock of one index: a file beside it in the data dir, one per collection."""
        return cls(data_dir / f"write-{collection}.lock")

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._fd: int | None = None

    def _acquire(self) -> None:
        self._fd = self._lock_file()

    def _release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def close(self) -> None:
        """Nothing to release: the file is locked only while a writer holds it."""

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


class AdvisoryLock(_Reentrant):
    """WriterLock's semantics across machines: a PostgreSQL session-level advisory lock per collection.

    Held on a connection of its own, so that the index's queries (autocommit, shared by threads) never
    carry it, and so that closing this one connection, or the death of this process, frees it.
    """

    def __init__(self, url: str, collection: str) -> None:
        self.url, self.collection = url, collection
        # A stable 64-bit key from the name: Python's hash() differs between processes.
        digest = hashlib.sha256(f"seedrag writer {collection}".encode()).digest()
        self.key = int.from_bytes(digest[:8], "big", signed=True)
        super().__init__()
        self._conn: Any = None

    def _release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            except Exception:  # the session is gone, and its lock with it; start afresh next time
                self._drop()

    def close(self) -> None:
        with self._thread:
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _acquire(self) -> None:
        import psycopg

        from rag.index.database import connect

        for attempt in (1, 2):
            if self._conn is None or self._conn.closed or self._conn.broken:
                # Keepalives: the server notices a holder whose machine vanished, and frees its lock.
                self._conn = connect(self.url, keepalives=1, keepalives_idle=30, keepalives_interval=10)
            try:
                if self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()[0]:
                    return
                log.warning(
                    "another process is writing collection %r (PostgreSQL advisory lock); waiting for it to finish",
                    self.collection,
                )
                self._conn.execute("SELECT pg_advisory_lock(%s)", (self.key,))
                return
            except psycopg.OperationalError:
                # An idle connection the server or the network dropped: one new connection, then give up.
                self._drop()
                if attempt == 2:
                    raise
            except BaseException:
                # Interrupted while waiting: the lock may have been granted as we left, so end the session.
                self._drop()
                raise
