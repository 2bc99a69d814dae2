"""Which Slack events were already taken on, so that Slack's retries never produce a second answer.

A database rather than a dict: a retry can arrive after a restart (Slack retries for
minutes when an ack was slow or lost). Rows older than a day are dropped, which keeps it small.

Two stores with the same `claim`, chosen by settings (`make_seen`):
- `SeenEvents` (the embedded default, as before): `data/slack-events.sqlite`, one file per data dir.
- `PostgresSeenEvents` (`RAG_DATABASE_URL` set): a table in the shared database, so a retry that the load
  balancer sends to another replica is recognised there too. One statement claims the keys, and the table's
  primary key decides: of two replicas (or threads) claiming the same event at once, exactly one wins.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from rag.config import Settings
from rag.index.database import connect, migrate_postgres, migrate_sqlite
from rag.index.storage import pick

KEEP_S = 24 * 3600


class Seen(Protocol):
    def claim(self, *keys: str) -> bool:
        """True the first time any of these keys is claimed; False if one was claimed before."""
        ...

    def close(self) -> None: ...


def make_seen(settings: Settings) -> Seen:
    def shared(url: str) -> Seen:
        return PostgresSeenEvents(url, settings.collection)

    return pick(settings, lambda: SeenEvents(settings.data_dir / "slack-events.sqlite"), shared)


MIGRATIONS = [(1, "CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, at REAL NOT NULL)")]


class SeenEvents:
    def __init__(self, path: Path, keep_s: float = KEEP_S) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.keep_s = keep_s
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=10, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        migrate_sqlite(self._db, "slack_seen", MIGRATIONS)
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


# Keyed by collection too: two seedrag deployments sharing a database, each with its own Slack app, can both be
# mentioned in one message; with a shared `message:<channel>:<ts>` key the second bot would stay silent.
_PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS slack_seen (
    collection text NOT NULL, key text NOT NULL, at double precision NOT NULL, PRIMARY KEY (collection, key)
);
CREATE INDEX IF NOT EXISTS slack_seen_at ON slack_seen (collection, at);
"""

PG_MIGRATIONS = [(1, _PG_SCHEMA)]

# A key claimed longer ago than keep_s is free again (the row is taken over), whether or not a purge has
# removed it yet; purges only keep the table small. Taking a row over and the claim it answers are one
# statement, so two replicas retrying an old key at once still get one True between them.
_CLAIM = """
INSERT INTO slack_seen (collection, key, at)
SELECT %(c)s, u.k, %(now)s FROM unnest(%(keys)s::text[]) WITH ORDINALITY AS u(k, n) ORDER BY u.n
ON CONFLICT (collection, key) DO UPDATE SET at = EXCLUDED.at WHERE slack_seen.at < %(expired)s
"""


class PostgresSeenEvents:
    """Claimed keys in the shared database, so every replica answers a Slack event once between them."""

    def __init__(self, url: str, collection: str, keep_s: float = KEEP_S) -> None:
        self.url, self.collection, self.keep_s = url, collection, keep_s
        self._claims = 0
        with self._connect() as conn:
            migrate_postgres(conn, "slack_seen", PG_MIGRATIONS)

    def _connect(self) -> Any:
        # A connection per claim: one per Slack request, and none held open across a restart of the database.
        return connect(self.url)

    def claim(self, *keys: str) -> bool:
        import psycopg

        # Sorted: two claims sharing keys lock their rows in the same order and cannot deadlock.
        wanted = sorted({k for k in keys if k})
        if not wanted:
            return True
        now = time.time()
        with self._connect() as conn:
            with conn.transaction() as tx:
                done = conn.execute(
                    _CLAIM, {"c": self.collection, "now": now, "keys": wanted, "expired": now - self.keep_s}
                )
                claimed = done.rowcount == len(wanted)
                if not claimed:  # one of them was claimed before (and has not expired): claim none of them
                    raise psycopg.Rollback(tx)
            if not claimed:
                return False
            self._claims += 1  # unlocked: a lost count only moves the next purge
            if self._claims % 100 == 1:
                # After the claim, and skipping rows that claims hold: a purge never waits, so never deadlocks.
                conn.execute(
                    "DELETE FROM slack_seen WHERE (collection, key) IN (SELECT collection, key FROM slack_seen "
                    "WHERE collection = %s AND at < %s FOR UPDATE SKIP LOCKED)",
                    (self.collection, now - self.keep_s),
                )
        return True

    def close(self) -> None:
        pass
