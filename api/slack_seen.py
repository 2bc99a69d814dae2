"""Which Slack events were already taken on, so that Slack's retries never produce a second answer.

SQLite under the data dir rather than a dict: a retry can arrive after a restart (Slack retries for
minutes when an ack was slow or lost). Rows older than a day are dropped, which keeps it small.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

KEEP_S = 24 * 3600


class SeenEvents:
    def __init__(self, path: Path, keep_s: float = KEEP_S) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.keep_s = keep_s
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=10, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, at REAL NOT NULL)")
        self._claims = 0

    def claim(self, *keys: str) -> bool:
        """True the first time any of these keys is claimed; False if one was claimed before."""
        keys = tuple(k for k in keys if k)
        if not keys:
            return True
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                marks = ",".join("?" * len(keys))
                if self._db.execute(f"SELECT 1 FROM seen WHERE key IN ({marks})", keys).fetchone():
                    self._db.execute("ROLLBACK")
                    return False
                self._db.executemany("INSERT INTO seen VALUES (?, ?)", [(k, now) for k in keys])
                self._claims += 1
                if self._claims % 100 == 1:
                    self._db.execute("DELETE FROM seen WHERE at < ?", (now - self.keep_s,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return True

    def close(self) -> None:
        with self._lock:
            self._db.close()
