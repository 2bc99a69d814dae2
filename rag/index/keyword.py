"""The keyword (BM25) side of the index and the document manifest, in one SQLite file beside Chroma.

SQLite's FTS5 rather than an in-memory BM25 library: it updates row by row in the same steps as Chroma
(no rebuild for one changed file), survives a kill mid-write (transactions), needs no extra package, and
answers a query over 10k chunks in a millisecond or two.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rag.access import EVERYONE
from rag.index.database import Migrations, migrate_sqlite
from rag.index.terms import chunk_terms, query_terms

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    source TEXT PRIMARY KEY, sha256 TEXT NOT NULL, title TEXT, date TEXT, chunks INTEGER NOT NULL,
    page_starts TEXT NOT NULL DEFAULT '[]', ingested_at REAL NOT NULL, doc_id TEXT
);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE NOT NULL, source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks(source);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    title, text, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""

# The text is analysed in Python (rag/index/terms.py: the chunk's language detected, its words segmented, stemmed
# in that language) and FTS5 indexes the analysed terms: its `ascii` tokenizer splits them at the spaces only
# (every non-ASCII character is a token character), so a term is never cut again. The title and text stay, not
# indexed, for display. bm25() takes one weight per column: title, text, title_terms, text_terms.
_ANALYSED = """CREATE VIRTUAL TABLE {name} USING fts5(
    title UNINDEXED, text UNINDEXED, title_terms, text_terms, tokenize = 'ascii'
)"""
_BATCH = 1000


def _analysed_terms(db: sqlite3.Connection) -> None:
    """Migration 2 (issue 21): from FTS5's English-only porter tokenizer to terms per language, rebuilt from the
    stored title and text of every chunk; nothing is embedded again. One transaction: a kill leaves the old
    index, and the next start does it again."""
    db.execute("BEGIN")
    try:
        if "lang" not in {row[1] for row in db.execute("PRAGMA table_info(chunks)")}:
            db.execute("ALTER TABLE chunks ADD COLUMN lang TEXT")
        db.execute("DROP TABLE IF EXISTS chunks_analysed")
        db.execute(_ANALYSED.format(name="chunks_analysed"))
        rows = db.execute("SELECT rowid, title, text FROM chunks_fts ORDER BY rowid")
        done = 0
        while batch := rows.fetchmany(_BATCH):
            analysed = [(rowid, title, text, chunk_terms(title or "", text or "")) for rowid, title, text in batch]
            db.executemany(
                "INSERT INTO chunks_analysed(rowid, title, text, title_terms, text_terms) VALUES (?, ?, ?, ?, ?)",
                [(r, ti, tx, " ".join(t.title), " ".join(t.text)) for r, ti, tx, t in analysed],
            )
            db.executemany("UPDATE chunks SET lang = ? WHERE rowid = ?", [(t.lang, r) for r, _, _, t in analysed])
            done += len(batch)
            log.info("keyword index: %d chunks analysed per language", done)
        db.execute("DROP TABLE chunks_fts")
        db.execute("ALTER TABLE chunks_analysed RENAME TO chunks_fts")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _add_groups(db: sqlite3.Connection) -> None:
    # Who may read each document (issue 20): a JSON list on the record, and one row per (group, document) that
    # a restricted search joins on. Documents indexed before rules existed were readable by everyone.
    with db:
        if "groups" not in {row[1] for row in db.execute("PRAGMA table_info(documents)")}:
            db.execute(f"ALTER TABLE documents ADD COLUMN groups TEXT NOT NULL DEFAULT '[\"{EVERYONE}\"]'")
        db.execute(
            "CREATE TABLE IF NOT EXISTS document_groups (source TEXT NOT NULL, grp TEXT NOT NULL, "
            "PRIMARY KEY (source, grp)) WITHOUT ROWID"
        )
        db.execute("INSERT OR IGNORE INTO document_groups (source, grp) SELECT source, ? FROM documents", (EVERYONE,))


MIGRATIONS: Migrations = [(1, _SCHEMA), (2, _analysed_terms), (3, _add_groups)]


def document_id(source: str) -> str:
    """The id the API names a document by: the first 16 hex characters of sha256(source)."""
    return hashlib.sha256(source.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DocumentRecord:
    source: str
    sha256: str
    title: str | None
    date: str | None
    chunks: int
    page_starts: tuple[int, ...]
    ingested_at: float
    groups: tuple[str, ...] = (EVERYONE,)  # who may read it (rag/access.py); () = only readers who read all


class KeywordStore(Protocol):
    """What the pipeline needs of a keyword index and manifest: KeywordIndex here, or PgKeywordIndex
    (rag/index/postgres.py) when RAG_DATABASE_URL points at a PostgreSQL that several replicas share."""

    def chunk_ids(self, source: str) -> set[str]: ...
    def add(self, source: str, title: str, items: list[tuple[str, str]]) -> None: ...
    def delete(self, chunk_ids: list[str]) -> None: ...
    def transaction(self) -> AbstractContextManager[None]: ...
    def texts(self, chunk_ids: list[str]) -> dict[str, str]: ...
    def search(
        self, query: str, limit: int, title_weight: float = 2.0, allowed: frozenset[str] | None = None
    ) -> list[tuple[str, float]]: ...
    def search_any(
        self, phrases: list[str], limit: int, title_weight: float = 2.0, allowed: frozenset[str] | None = None
    ) -> list[tuple[str, float]]: ...
    def readable(self, chunk_ids: list[str], allowed: frozenset[str]) -> set[str]: ...
    def readable_by_all(self, allowed: frozenset[str]) -> bool: ...
    def doc_freq(self, stems: list[str]) -> dict[str, int]: ...
    def chunk_sources(self) -> dict[str, str]: ...
    def count(self) -> int: ...
    def languages(self) -> dict[str, int]: ...
    def record(self, source: str) -> DocumentRecord | None: ...
    def records(self) -> list[DocumentRecord]: ...
    def source_of(self, document_id: str) -> str | None: ...
    def put_record(
        self,
        source: str,
        sha256: str,
        title: str,
        date: str | None,
        chunks: int,
        page_starts: tuple[int, ...],
        groups: tuple[str, ...] = (EVERYONE,),
    ) -> None: ...
    def set_groups(self, source: str, groups: tuple[str, ...]) -> None: ...
    def forget(self, source: str) -> None: ...
    def sources_with_chunks(self) -> set[str]: ...
    def close(self) -> None: ...


class KeywordIndex:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self._group_sets: tuple[int, list[frozenset[str]]] | None = None  # see readable_by_all
        # See readable(): every chunk's groups, for one data_version; our own writes mark it dirty.
        self._access: tuple[int, dict[str, frozenset[str]]] | None = None
        self._access_dirty = False
        self._access_seen: tuple[int, int] | None = None
        self._writes = 0
        with self._lock:
            self._open()

    def _open(self) -> None:
        # Switching a new file to WAL needs it to itself, and SQLite answers "database is locked" at once rather
        # than waiting when another process is creating the same file. Every statement here is idempotent.
        deadline = time.monotonic() + 30
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                migrate_sqlite(self._db, "keyword", MIGRATIONS)
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self._add_doc_ids()
        # Per connection, never stored: a read-only view of the index's terms for pseudo-relevance feedback.
        self._db.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_vocab USING fts5vocab(main, chunks_fts, 'row')"
        )

    def _add_doc_ids(self) -> None:
        # The manifest looks a document up by its API id through an index: without it every /original and DELETE
        # hashed every source. Files from before the column get it, filled in once.
        with self.transaction():
            if "doc_id" not in {row[1] for row in self._db.execute("PRAGMA table_info(documents)")}:
                self._db.execute("ALTER TABLE documents ADD COLUMN doc_id TEXT")
            missing = self._db.execute("SELECT source FROM documents WHERE doc_id IS NULL").fetchall()
            self._db.executemany(
                "UPDATE documents SET doc_id = ? WHERE source = ?", [(document_id(s), s) for (s,) in missing]
            )
            self._db.execute("CREATE INDEX IF NOT EXISTS documents_doc_id ON documents(doc_id)")

    def close(self) -> None:
        self._db.close()

    # --- chunks -----------------------------------------------------------------------------------
    def chunk_ids(self, source: str) -> set[str]:
        with self._lock:
            rows = self._db.execute("SELECT chunk_id FROM chunks WHERE source = ?", (source,)).fetchall()
        return {r[0] for r in rows}

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Writes inside are one transaction: all or none. Nested, it joins the outer one. Many files' writes in
        one commit also give FTS5 one new segment to merge instead of one per file."""
        with self._lock:
            if self._db.in_transaction:
                yield
                return
            self._db.execute("BEGIN")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def add(self, source: str, title: str, items: list[tuple[str, str]]) -> None:
        """Add (chunk_id, text) pairs in one transaction; ids already present are left alone. Each new chunk's
        language is detected and stored, and its terms analysed in it."""
        with self.transaction():
            self._wrote()  # inside the lock: no reader can rebuild the map between this and the write
            for chunk_id, text in items:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO chunks(chunk_id, source) VALUES (?, ?)", (chunk_id, source)
                )
                if cur.rowcount:
                    terms = chunk_terms(title or "", text)
                    self._db.execute("UPDATE chunks SET lang = ? WHERE rowid = ?", (terms.lang, cur.lastrowid))
                    self._db.execute(
                        "INSERT INTO chunks_fts(rowid, title, text, title_terms, text_terms) VALUES (?, ?, ?, ?, ?)",
                        (cur.lastrowid, title, text, " ".join(terms.title), " ".join(terms.text)),
                    )

    def delete(self, chunk_ids: list[str]) -> None:
        if not chunk_ids:
            return
        with self.transaction():
            self._wrote()
            for chunk_id in chunk_ids:
                row = self._db.execute("SELECT rowid FROM chunks WHERE chunk_id = ?", (chunk_id,)).fetchone()
                if row:
                    self._db.execute("DELETE FROM chunks_fts WHERE rowid = ?", (row[0],))
                    self._db.execute("DELETE FROM chunks WHERE rowid = ?", (row[0],))

    def texts(self, chunk_ids: list[str]) -> dict[str, str]:
        """The text of each chunk held here, by id (Chroma holds only vectors and positions)."""
        out: dict[str, str] = {}
        with self._lock:
            for b in range(0, len(chunk_ids), 500):
                part = chunk_ids[b : b + 500]
                marks = ",".join("?" * len(part))
                rows = self._db.execute(
                    f"SELECT c.chunk_id, f.text FROM chunks c JOIN chunks_fts f ON f.rowid = c.rowid "
                    f"WHERE c.chunk_id IN ({marks})",
                    part,
                )
                out.update(rows.fetchall())
        return out

    def search(
        self, query: str, limit: int, title_weight: float = 2.0, allowed: frozenset[str] | None = None
    ) -> list[tuple[str, float]]:
        """(chunk_id, bm25 score) best first; higher is better. The query is analysed in its detected language."""
        return self.search_any(query_terms(query), limit, title_weight, allowed)

    def search_any(
        self, phrases: list[str], limit: int, title_weight: float = 2.0, allowed: frozenset[str] | None = None
    ) -> list[tuple[str, float]]:
        """Chunks matching any of the terms or phrases (terms joined by a space, as rag/index/terms.py gives them),
        by BM25 summed over the phrases each one matches.
        `allowed`: only chunks of documents readable by one of these groups, chosen before the LIMIT (None: all)."""
        phrases = [" ".join(p.replace('"', " ").split()) for p in phrases]
        match = " OR ".join(f'"{p}"' for p in phrases if p)
        if not match or (allowed is not None and not allowed):
            return []
        # The best `limit` rows first, then their ids: joined before the LIMIT, SQLite looks up the id of every
        # matching row (tens of thousands for common words in a large index), and this query costs ~40% more.
        # A reader's filter needs that look-up anyway (a chunk's document, then its groups), so it is one
        # correlated probe per matching row, inside the ranking: the LIMIT counts readable rows only.
        readable, groups = "", list(allowed or ())
        if allowed is not None:
            readable = (
                "AND EXISTS (SELECT 1 FROM chunks r JOIN document_groups g ON g.source = r.source "
                f"WHERE r.rowid = chunks_fts.rowid AND g.grp IN ({','.join('?' * len(groups))})) "
            )
        with self._lock:
            rows = self._db.execute(
                "SELECT c.chunk_id, f.s FROM (SELECT rowid, bm25(chunks_fts, 0.0, 0.0, ?, 1.0) AS s FROM chunks_fts "
                f"WHERE chunks_fts MATCH ? {readable}ORDER BY s LIMIT ?) f JOIN chunks c ON c.rowid = f.rowid "
                "ORDER BY f.s",
                (title_weight, match, *groups, limit),
            ).fetchall()
        return [(cid, -score) for cid, score in rows]

    def readable_by_all(self, allowed: frozenset[str]) -> bool:
        """Whether these groups may read every recorded document (no rules file: `everyone` may), so that a search
        for them needs no filter and costs what one without a reader does. The distinct group sets are kept
        until the file changes: SQLite's data_version tells another connection's commit, put_record ours."""
        with self._lock:
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            if self._group_sets is None or self._group_sets[0] != version:
                rows = self._db.execute("SELECT DISTINCT groups FROM documents").fetchall()
                self._group_sets = (version, [frozenset(json.loads(r[0])) for r in rows])
            return all(groups & allowed for groups in self._group_sets[1])

    def readable(self, chunk_ids: list[str], allowed: frozenset[str]) -> set[str]:
        """Those of these chunks whose document one of these groups may read (by the manifest).

        Asked for hundreds of chunks several times a search, so answered from a map of every chunk's groups kept
        in memory while the file is unchanged (SQLite's data_version says when another connection committed;
        our own writes drop it). Built only once the file has stayed unchanged between two calls, so that a
        running ingest (a commit every few seconds) never rebuilds it search after search; meanwhile, SQL."""
        if not allowed:
            return set()
        with self._lock:
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            access = self._access
            if access is None or access[0] != version or self._access_dirty:
                if self._access_seen == (version, self._writes):
                    self._access = self._access_map(version)
                    access = self._access
                else:
                    self._access_seen, access = (version, self._writes), None
            if access is not None:
                known = access[1]
                out = {cid for cid in chunk_ids if known.get(cid, frozenset()) & allowed}
                unknown = [cid for cid in chunk_ids if cid not in known]
                return out | (self._readable_sql(unknown, allowed) if unknown else set())
            return self._readable_sql(chunk_ids, allowed)

    def _access_map(self, version: int) -> tuple[int, dict[str, frozenset[str]]]:
        self._access_dirty = False
        by_source: dict[str, set[str]] = {}
        for source, grp in self._db.execute("SELECT source, grp FROM document_groups"):
            by_source.setdefault(source, set()).add(grp)
        frozen = {s: frozenset(g) for s, g in by_source.items()}
        empty: frozenset[str] = frozenset()
        rows = self._db.execute("SELECT chunk_id, source FROM chunks")
        return version, {cid: frozen.get(source, empty) for cid, source in rows}

    def _readable_sql(self, chunk_ids: list[str], allowed: frozenset[str]) -> set[str]:
        out: set[str] = set()
        groups = sorted(allowed)
        with self._lock:
            for b in range(0, len(chunk_ids), 500):
                part = chunk_ids[b : b + 500]
                rows = self._db.execute(
                    f"SELECT c.chunk_id FROM chunks c WHERE c.chunk_id IN ({','.join('?' * len(part))}) AND EXISTS "
                    "(SELECT 1 FROM document_groups g WHERE g.source = c.source "
                    f"AND g.grp IN ({','.join('?' * len(groups))}))",
                    (*part, *groups),
                )
                out.update(r[0] for r in rows.fetchall())
        return out

    def doc_freq(self, stems: list[str]) -> dict[str, int]:
        """How many chunks hold each term, given as the index stores it (rag/index/terms.py)."""
        if not stems:
            return {}
        marks = ",".join("?" * len(stems))
        with self._lock:
            rows = self._db.execute(f"SELECT term, doc FROM temp.chunks_vocab WHERE term IN ({marks})", stems)
            return {term: int(n) for term, n in rows.fetchall()}

    def chunk_sources(self) -> dict[str, str]:
        """Every chunk id with its document's source (evaluation maps ranked chunks to documents)."""
        with self._lock:
            return dict(self._db.execute("SELECT chunk_id, source FROM chunks").fetchall())

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def languages(self) -> dict[str, int]:
        """How many chunks are in each language, as detected at ingest ("" for chunks not analysed yet)."""
        with self._lock:
            rows = self._db.execute("SELECT coalesce(lang, ''), count(*) FROM chunks GROUP BY 1").fetchall()
        return {lang: int(n) for lang, n in rows}

    # --- the document manifest ---------------------------------------------------------------------
    def record(self, source: str) -> DocumentRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_RECORD} FROM documents WHERE source = ?", (source,)).fetchone()
        return _record(row) if row else None

    def records(self) -> list[DocumentRecord]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_RECORD} FROM documents ORDER BY source").fetchall()
        return [_record(r) for r in rows]

    def source_of(self, document_id: str) -> str | None:
        """The source of the recorded document with this API id (`document_id()`), through an index."""
        with self._lock:
            row = self._db.execute("SELECT source FROM documents WHERE doc_id = ?", (document_id,)).fetchone()
        return row[0] if row else None

    def put_record(
        self,
        source: str,
        sha256: str,
        title: str,
        date: str | None,
        chunks: int,
        page_starts: tuple[int, ...],
        groups: tuple[str, ...] = (EVERYONE,),
    ) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO documents (source, sha256, title, date, chunks, page_starts, ingested_at, "
                "doc_id, groups) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    source,
                    sha256,
                    title,
                    date,
                    chunks,
                    json.dumps(list(page_starts)),
                    time.time(),
                    document_id(source),
                    json.dumps(list(groups)),
                ),
            )
            self._put_groups(source, groups)

    def set_groups(self, source: str, groups: tuple[str, ...]) -> None:
        """Change who may read a recorded document (a rule changed): the manifest only, nothing re-embedded."""
        with self.transaction():
            self._db.execute("UPDATE documents SET groups = ? WHERE source = ?", (json.dumps(list(groups)), source))
            self._put_groups(source, groups)

    def _put_groups(self, source: str, groups: tuple[str, ...]) -> None:
        self._group_sets = None  # this connection's own writes do not change its data_version
        self._wrote()
        self._db.execute("DELETE FROM document_groups WHERE source = ?", (source,))
        self._db.executemany("INSERT INTO document_groups (source, grp) VALUES (?, ?)", [(source, g) for g in groups])

    def _wrote(self) -> None:
        self._access_dirty, self._writes = True, self._writes + 1

    def forget(self, source: str) -> None:
        self._group_sets = None
        with self.transaction():
            self._wrote()
            self._db.execute("DELETE FROM documents WHERE source = ?", (source,))
            self._db.execute("DELETE FROM document_groups WHERE source = ?", (source,))

    def sources_with_chunks(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT DISTINCT source FROM chunks")}


_RECORD = "source, sha256, title, date, chunks, page_starts, ingested_at, groups"


def _record(row: tuple) -> DocumentRecord:  # type: ignore[type-arg]
    return DocumentRecord(
        row[0], row[1], row[2], row[3], row[4], tuple(json.loads(row[5])), row[6], tuple(json.loads(row[7]))
    )
