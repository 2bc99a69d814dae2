"""The shared PostgreSQL database (RAG_DATABASE_URL): connecting, naming it in messages, and numbered schema
migrations recorded in the database itself, for PostgreSQL and for the SQLite files of a single machine.

Every store lists its schema as numbered steps; `migrate_*` applies the ones a database has not recorded, in
order, and records each in `seedrag_migrations` (component, version). The first step of each store is its
schema as it stood before migrations were recorded (CREATE ... IF NOT EXISTS), so an index built then opens,
gets its first steps recorded, and then the later ones applied.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

from rag.index.vectors import StoreUnavailable

# A step is SQL (run as a script) or a function of the connection, for changes SQL cannot guard (SQLite has
# no ADD COLUMN IF NOT EXISTS).
Step = str | Callable[[Any], None]
Migrations = Sequence[tuple[int, Step]]

# Replicas starting at once would race to create the same tables (a unique violation in PostgreSQL's catalog):
# one transaction-level advisory lock, for every store's migrations, makes the others wait.
SCHEMA_LOCK = int.from_bytes(hashlib.sha256(b"seedrag schema").digest()[:8], "big", signed=True)

_SQLITE_TABLE = """CREATE TABLE IF NOT EXISTS seedrag_migrations (
    component TEXT NOT NULL, version INTEGER NOT NULL, applied_at REAL NOT NULL, PRIMARY KEY (component, version)
)"""
_PG_TABLE = """CREATE TABLE IF NOT EXISTS seedrag_migrations (
    component text NOT NULL, version int NOT NULL, applied_at double precision NOT NULL,
    PRIMARY KEY (component, version)
)"""


def describe(url: str) -> str:
    """host:port/dbname of a database URL, without the user or password, for messages."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(url)
    except Exception:
        return "RAG_DATABASE_URL"
    return f"{info.get('host') or 'localhost'}:{info.get('port') or 5432}/{info.get('dbname') or ''}"


def connect(url: str, **options: Any) -> Any:
    """A psycopg connection in autocommit mode, or StoreUnavailable saying what to check."""
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10, **options)
    except psycopg.Error as e:
        raise StoreUnavailable(
            f"cannot reach PostgreSQL at {describe(url)}: {str(e).strip()}; start it, or check RAG_DATABASE_URL "
            f"(unset it to keep the keyword index in a local SQLite file)"
        ) from e


def migrate_postgres(conn: Any, component: str, steps: Migrations) -> list[int]:
    """Apply and record the steps this database lacks, in one transaction under the schema lock; their numbers."""
    applied = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        conn.execute(_PG_TABLE)
        done = {r[0] for r in conn.execute("SELECT version FROM seedrag_migrations WHERE component = %s", (component,))}
        for version, step in steps:
            if version in done:
                continue
            conn.execute(step) if isinstance(step, str) else step(conn)
            conn.execute(
                "INSERT INTO seedrag_migrations (component, version, applied_at) VALUES (%s, %s, %s)",
                (component, version, time.time()),
            )
            applied.append(version)
    return applied


def migrate_sqlite(db: sqlite3.Connection, component: str, steps: Migrations) -> list[int]:
    """The same for a SQLite file; each step and its record are one transaction."""
    db.execute(_SQLITE_TABLE)
    done = {r[0] for r in db.execute("SELECT version FROM seedrag_migrations WHERE component = ?", (component,))}
    applied = []
    for version, step in steps:
        if version in done:
            continue
        if isinstance(step, str):
            # executescript commits first and runs the script outside our transaction; its steps are idempotent
            # (IF NOT EXISTS), so a kill between the script and the record only repeats it next time.
            db.executescript(step)
        else:
            step(db)
        db.execute(
            "INSERT OR IGNORE INTO seedrag_migrations (component, version, applied_at) VALUES (?, ?, ?)",
            (component, version, time.time()),
        )
        if db.in_transaction:
            db.commit()
        applied.append(version)
    return applied
