"""The keyword (BM25) index and the document manifest in PostgreSQL, shared by every replica (RAG_DATABASE_URL).

Same methods and the same ranking as rag/index/keyword.py's SQLite FTS5 index: BM25 exactly as FTS5's bm25()
computes it, over the same terms (rag/index/terms.py: analysed per language, in Python, for both). Not
`ts_rank`, which has no idf. The index is a postings table (collection, term, chunk) -> (count in the title,
count in the text, chunk length), where a term is a stem or two adjacent stems ("wind turbin", for phrase
queries); the stems' document frequencies and the collection's chunk and token totals are kept in their own
rows, updated in the same statement as the postings (a pair's frequency is counted from its postings when
asked: pairs are most of the distinct terms, and rarely queried). A query reads the postings of its terms
through one btree and scores them in one statement.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rag.access import EVERYONE
from rag.index.database import Migrations, connect, describe, migrate_postgres
from rag.index.keyword import DocumentRecord, document_id
from rag.index.terms import ChunkTerms, chunk_terms, query_terms

log = logging.getLogger(__name__)


# `term` sorts bytewise (COLLATE "C"): a btree over stems needs no locale, and compares faster without one.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS rag_collections (
    id serial PRIMARY KEY, name text UNIQUE NOT NULL,
    n_chunks bigint NOT NULL DEFAULT 0, n_tokens bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS rag_documents (
    collection int NOT NULL REFERENCES rag_collections(id), source text NOT NULL, sha256 text NOT NULL,
    title text, date text, chunks int NOT NULL, page_starts text NOT NULL DEFAULT '[]',
    ingested_at double precision NOT NULL, PRIMARY KEY (collection, source)
);
-- The API's id of a document (rag.index.keyword.document_id), so a lookup by id is one index probe.
ALTER TABLE rag_documents ADD COLUMN IF NOT EXISTS doc_id text;
CREATE INDEX IF NOT EXISTS rag_documents_doc_id ON rag_documents (collection, doc_id);
CREATE TABLE IF NOT EXISTS rag_chunks (
    id bigserial PRIMARY KEY, collection int NOT NULL REFERENCES rag_collections(id), chunk_id text NOT NULL,
    source text NOT NULL, length int NOT NULL, UNIQUE (collection, chunk_id)
);
CREATE INDEX IF NOT EXISTS rag_chunks_source ON rag_chunks (collection, source);
CREATE TABLE IF NOT EXISTS rag_postings (
    collection int NOT NULL, term text COLLATE "C" NOT NULL, chunk bigint NOT NULL,
    in_title int NOT NULL, in_text int NOT NULL, length int NOT NULL,
    PRIMARY KEY (collection, term, chunk) INCLUDE (in_title, in_text, length)
);
CREATE INDEX IF NOT EXISTS rag_postings_chunk ON rag_postings (chunk);
CREATE TABLE IF NOT EXISTS rag_terms (
    collection int NOT NULL, term text COLLATE "C" NOT NULL, df int NOT NULL, PRIMARY KEY (collection, term)
);
"""

MIGRATIONS: Migrations = [
    (1, _SCHEMA),
    # The chunk's text lives here, not in Chroma (which keeps vectors and positions): see VectorStore.upsert.
    (2, "ALTER TABLE rag_chunks ADD COLUMN IF NOT EXISTS text text"),
    (3, lambda conn: _analysed_terms(conn)),  # defined below, with the functions it uses
    # Who may read each document (issue 20); documents indexed before rules existed were readable by everyone.
    (4, "ALTER TABLE rag_documents ADD COLUMN IF NOT EXISTS groups text[] NOT NULL DEFAULT '{everyone}'"),
]

# Each write is one statement (data-modifying CTEs): one round trip, and atomic in autocommit mode.
_ADD = """
WITH c AS (
    INSERT INTO rag_chunks (collection, chunk_id, source, length, text, lang)
    SELECT %(c)s, u.cid, %(source)s, u.len, u.text, u.lang
    FROM unnest(%(cids)s::text[], %(lens)s::int[], %(texts)s::text[], %(langs)s::text[])
        WITH ORDINALITY AS u(cid, len, text, lang, n)
    ORDER BY u.n
    ON CONFLICT (collection, chunk_id) DO NOTHING
    RETURNING id, chunk_id, length
), p AS (
    INSERT INTO rag_postings (collection, term, chunk, in_title, in_text, length)
    SELECT %(c)s, u.term, c.id, u.in_title, u.in_text, c.length
    FROM unnest(%(p_cid)s::text[], %(p_term)s::text[], %(p_title)s::int[], %(p_text)s::int[])
        AS u(cid, term, in_title, in_text)
    JOIN c ON c.chunk_id = u.cid
    RETURNING term
), t AS (
    -- one order for every writer: concurrent upserts of the same rows cannot deadlock
    INSERT INTO rag_terms (collection, term, df)
    SELECT %(c)s, term, count(*) FROM p WHERE strpos(term, ' ') = 0 GROUP BY term ORDER BY term
    ON CONFLICT (collection, term) DO UPDATE SET df = rag_terms.df + EXCLUDED.df
)
UPDATE rag_collections
SET n_chunks = n_chunks + (SELECT count(*) FROM c), n_tokens = n_tokens + (SELECT coalesce(sum(length), 0) FROM c)
WHERE id = %(c)s
"""

# Counts are decremented by an upsert of negative counts, which probes the primary key term by term: a join
# would be planned from the table's statistics, and those lag behind a fast-growing index. A term whose count
# reaches 0 is returned and removed by a second statement (if that never runs, `df > 0` hides the row anyway).
_DELETE = """
WITH c AS (
    DELETE FROM rag_chunks WHERE collection = %(c)s AND chunk_id = ANY(%(ids)s) RETURNING id, length
), p AS (
    DELETE FROM rag_postings WHERE chunk = ANY(ARRAY(SELECT id FROM c)) RETURNING term
), t AS (
    INSERT INTO rag_terms (collection, term, df)
    SELECT %(c)s, term, -count(*) FROM p WHERE strpos(term, ' ') = 0 GROUP BY term ORDER BY term
    ON CONFLICT (collection, term) DO UPDATE SET df = rag_terms.df + EXCLUDED.df
    RETURNING term, df
), n AS (
    UPDATE rag_collections
    SET n_chunks = n_chunks - (SELECT count(*) FROM c), n_tokens = n_tokens - (SELECT coalesce(sum(length), 0) FROM c)
    WHERE id = %(c)s
)
SELECT term FROM t WHERE df <= 0
"""

# BM25 as fts5_aux.c's fts5Bm25Function computes it: idf = ln((N - n + 0.5) / (n + 0.5)), clamped to 1e-6 when
# <= 0; score = sum over phrases of idf * f * (k1 + 1) / (f + k1 * (1 - b + b * D / avgdl)), where f sums the
# column weights over the phrase's occurrences and D is the row's length in tokens. A phrase given twice counts
# twice (`times`). Ties go to the chunk added first, as FTS5 returns rows in rowid order.
_SEARCH = """
WITH q AS MATERIALIZED (
    SELECT d.term, u.times * (CASE WHEN x.idf > 0 THEN x.idf ELSE 1e-6::float8 END) AS idf, s.avgdl
    FROM unnest(%(terms)s::text[], %(times)s::int[]) AS u(term, times)
    JOIN (
        SELECT term, df FROM rag_terms WHERE collection = %(c)s AND term = ANY(%(words)s) AND df > 0
        UNION ALL
        SELECT term, count(*) FROM rag_postings WHERE collection = %(c)s AND term = ANY(%(pairs)s) GROUP BY term
    ) d ON d.term = u.term COLLATE "C"
    CROSS JOIN (
        SELECT n_chunks::float8 AS n, n_tokens::float8 / greatest(n_chunks, 1) AS avgdl
        FROM rag_collections WHERE id = %(c)s
    ) s
    CROSS JOIN LATERAL (SELECT ln((s.n - d.df + 0.5::float8) / (d.df + 0.5::float8)) AS idf) x
), top AS (
    SELECT p.chunk, sum(
        q.idf * ((p.in_title * %(w)s::float8 + p.in_text) * 2.2::float8)
        / ((p.in_title * %(w)s::float8 + p.in_text) + 1.2::float8 * (0.25::float8 + 0.75::float8 * p.length / q.avgdl))
    ) AS score
    FROM q JOIN rag_postings p ON p.collection = %(c)s AND p.term = q.term
    GROUP BY p.chunk ORDER BY score DESC, p.chunk LIMIT %(limit)s
)
SELECT c.chunk_id, top.score FROM top JOIN rag_chunks c ON c.id = top.chunk ORDER BY top.score DESC, top.chunk
"""

# A reader's search: the same scores, and only chunks of documents one of the reader's groups may read are
# ranked - once per scored chunk, before the LIMIT, so the limit counts readable chunks only.
_SEARCH_READABLE = _SEARCH.replace(
    "    GROUP BY p.chunk ORDER BY score DESC, p.chunk LIMIT %(limit)s",
    """    GROUP BY p.chunk
), readable AS (
    SELECT s.chunk, s.score FROM top s
    JOIN rag_chunks c ON c.id = s.chunk
    JOIN rag_documents d ON d.collection = c.collection AND d.source = c.source
    WHERE d.groups && %(allowed)s::text[]
    ORDER BY s.score DESC, s.chunk LIMIT %(limit)s""",
).replace("FROM top JOIN", "FROM readable top JOIN")


def row_postings(title: str, text: str) -> tuple[dict[str, tuple[int, int]], int]:
    """A chunk's terms (stems and adjacent pairs) -> (count in the title, count in the text); and its length."""
    return postings(chunk_terms(title, text))


def postings(analysed: ChunkTerms) -> tuple[dict[str, tuple[int, int]], int]:
    """The same, of a chunk analysed already."""
    counts: dict[str, tuple[int, int]] = {}
    for col, toks in ((0, analysed.title), (1, analysed.text)):
        # A phrase never spans two columns, so pairs are taken within each one.
        grams = Counter(toks) + Counter(f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False))
        for term, n in grams.items():
            t, x = counts.get(term, (0, 0))
            counts[term] = (t + n, x) if col == 0 else (t, x + n)
    return counts, analysed.length


def phrase_terms(phrases: list[str]) -> Counter[str]:
    """Each phrase as the term it is stored under, counted (FTS5 sums a repeated phrase twice).

    A phrase of one term is a term, of two an adjacent pair. Longer ones are not stored and match nothing here.
    """
    out: Counter[str] = Counter()
    for phrase in phrases:
        toks = phrase.replace('"', " ").split()
        if 1 <= len(toks) <= 2:
            out[" ".join(toks)] += 1
        elif toks:
            log.debug("phrase %r has %d terms; only terms and pairs are indexed", phrase, len(toks))
    return out


def _analysed_terms(conn: Any) -> None:
    """Migration 3 (issue 21): every chunk's postings again, from its stored text analysed in its own language
    (rag/index/terms.py) instead of FTS5's English porter tokens; nothing is embedded again. Chunks stored
    before their text was kept here (migration 2) keep their old postings until their file is ingested again."""
    conn.execute("ALTER TABLE rag_chunks ADD COLUMN IF NOT EXISTS lang text")
    for (cid,) in conn.execute("SELECT id FROM rag_collections ORDER BY id").fetchall():
        rows = conn.execute(
            "SELECT c.id, coalesce(d.title, ''), c.text FROM rag_chunks c LEFT JOIN rag_documents d "
            "ON d.collection = c.collection AND d.source = c.source WHERE c.collection = %s AND c.text IS NOT NULL",
            (cid,),
        ).fetchall()
        without_text = conn.execute(
            "SELECT count(*) FROM rag_chunks WHERE collection = %s AND text IS NULL", (cid,)
        ).fetchone()[0]
        if without_text:
            log.warning(
                "%d chunks of collection %d have no stored text and keep their English-only keyword terms; "
                "ingest their files again (`rag ingest --force`) to index them per language",
                without_text,
                cid,
            )
        conn.execute("DELETE FROM rag_postings WHERE chunk = ANY(%s)", ([r[0] for r in rows],))
        for b in range(0, len(rows), 1000):
            batch = [(chunk, chunk_terms(title, text)) for chunk, title, text in rows[b : b + 1000]]
            p_chunk: list[int] = []
            p_term: list[str] = []
            p_title: list[int] = []
            p_text: list[int] = []
            p_len: list[int] = []
            for chunk, analysed in batch:
                counts, length = postings(analysed)
                for term, (in_title, in_text) in counts.items():
                    p_chunk.append(chunk)
                    p_term.append(term)
                    p_title.append(in_title)
                    p_text.append(in_text)
                    p_len.append(length)
            conn.execute(
                "INSERT INTO rag_postings (collection, term, chunk, in_title, in_text, length) "
                "SELECT %s, u.term, u.chunk, u.t, u.x, u.len "
                "FROM unnest(%s::text[], %s::bigint[], %s::int[], %s::int[], %s::int[]) AS u(term, chunk, t, x, len)",
                (cid, p_term, p_chunk, p_title, p_text, p_len),
            )
            conn.execute(
                "UPDATE rag_chunks c SET length = u.len, lang = u.lang "
                "FROM unnest(%s::bigint[], %s::int[], %s::text[]) AS u(id, len, lang) WHERE c.id = u.id",
                ([c for c, _ in batch], [a.length for _, a in batch], [a.lang for _, a in batch]),
            )
            log.info("keyword index (PostgreSQL): %d chunks analysed per language", min(b + 1000, len(rows)))
        conn.execute("DELETE FROM rag_terms WHERE collection = %s", (cid,))
        conn.execute(
            "INSERT INTO rag_terms (collection, term, df) SELECT %s, term, count(*) FROM rag_postings "
            "WHERE collection = %s AND strpos(term, ' ') = 0 GROUP BY term",
            (cid, cid),
        )
        conn.execute(
            "UPDATE rag_collections SET n_tokens = (SELECT coalesce(sum(length), 0) FROM rag_chunks "
            "WHERE collection = %s) WHERE id = %s",
            (cid, cid),
        )


class PgKeywordIndex:
    """One collection's keyword index and manifest in a PostgreSQL database that other replicas share."""

    def __init__(self, url: str, collection: str) -> None:
        self.url, self.collection = url, collection
        self._lock = threading.RLock()
        self._conn = connect(url)
        migrate_postgres(self._conn, "keyword", MIGRATIONS)
        with self._conn.transaction():
            self._conn.execute(
                "INSERT INTO rag_collections (name) VALUES (%s) ON CONFLICT (name) DO NOTHING", (collection,)
            )
            row = self._conn.execute("SELECT id FROM rag_collections WHERE name = %s", (collection,)).fetchone()
            missing = self._conn.execute(
                "SELECT source FROM rag_documents WHERE collection = %s AND doc_id IS NULL", (row[0],)
            ).fetchall()
            for (source,) in missing:  # rows from before the column: filled in once
                self._conn.execute(
                    "UPDATE rag_documents SET doc_id = %s WHERE collection = %s AND source = %s",
                    (document_id(source), row[0], source),
                )
        self._cid = int(row[0])

    @contextmanager
    def _db(self) -> Iterator[Any]:
        """The connection, under the lock; a new one when the old one broke (the server restarted)."""
        with self._lock:
            if self._conn.closed or self._conn.broken:
                log.warning("connection to PostgreSQL at %s was lost; reconnecting", describe(self.url))
                self._conn = connect(self.url)
            yield self._conn

    def close(self) -> None:
        self._conn.close()

    # --- chunks -----------------------------------------------------------------------------------
    def chunk_ids(self, source: str) -> set[str]:
        with self._db() as db:
            rows = db.execute(
                "SELECT chunk_id FROM rag_chunks WHERE collection = %s AND source = %s", (self._cid, source)
            ).fetchall()
        return {r[0] for r in rows}

    def add(self, source: str, title: str, items: list[tuple[str, str]]) -> None:
        """Add (chunk_id, text) pairs in one transaction; ids already present are left alone."""
        wanted: dict[str, str] = {}
        for chunk_id, text in items:
            wanted.setdefault(chunk_id, text)  # a repeated id keeps its first text, as INSERT OR IGNORE does
        if not wanted:
            return
        lengths: list[int] = []
        langs: list[str] = []
        p_cid: list[str] = []
        p_term: list[str] = []
        p_title: list[int] = []
        p_text: list[int] = []
        for cid, text in wanted.items():
            analysed = chunk_terms(title or "", text)
            counts, length = postings(analysed)
            lengths.append(length)
            langs.append(analysed.lang)
            for term, (in_title, in_text) in counts.items():
                p_cid.append(cid)
                p_term.append(term)
                p_title.append(in_title)
                p_text.append(in_text)
        params = {
            "c": self._cid,
            "source": source,
            "cids": list(wanted),
            "lens": lengths,
            "texts": list(wanted.values()),
            "langs": langs,
        }
        params |= {"p_cid": p_cid, "p_term": p_term, "p_title": p_title, "p_text": p_text}
        with self._db() as db:
            db.execute(_ADD, params)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Writes inside are one transaction: all or none (nested, a savepoint). Other replicas see them at once
        at the commit; this process's readers wait for it, as with SQLite."""
        with self._db() as db, db.transaction():
            yield

    def texts(self, chunk_ids: list[str]) -> dict[str, str]:
        """The text of each chunk held here, by id (Chroma holds only vectors and positions)."""
        if not chunk_ids:
            return {}
        with self._db() as db:
            rows = db.execute(
                "SELECT chunk_id, text FROM rag_chunks "
                "WHERE collection = %s AND chunk_id = ANY(%s) AND text IS NOT NULL",
                (self._cid, list(chunk_ids)),
            ).fetchall()
        return dict(rows)

    def delete(self, chunk_ids: list[str]) -> None:
        if chunk_ids:
            with self._db() as db:
                gone = [r[0] for r in db.execute(_DELETE, {"c": self._cid, "ids": list(chunk_ids)}).fetchall()]
                if gone:  # terms no chunk holds any more leave the vocabulary, as in FTS5
                    db.execute(
                        "DELETE FROM rag_terms WHERE collection = %s AND term = ANY(%s) AND df <= 0", (self._cid, gone)
                    )

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
        wanted = phrase_terms(phrases)
        if not wanted or limit <= 0 or (allowed is not None and not allowed):
            return []
        params = {"c": self._cid, "terms": list(wanted), "times": list(wanted.values())}
        params |= {"words": [t for t in wanted if " " not in t], "pairs": [t for t in wanted if " " in t]}
        sql = _SEARCH if allowed is None else _SEARCH_READABLE
        params |= {"allowed": sorted(allowed or ())}
        with self._db() as db:
            rows = db.execute(sql, params | {"w": title_weight, "limit": limit}).fetchall()
        return [(cid, float(score)) for cid, score in rows]

    def readable_by_all(self, allowed: frozenset[str]) -> bool:
        """Never assumed here: other replicas change the manifest, and nothing cheap says when. Always filtered."""
        return False

    def readable(self, chunk_ids: list[str], allowed: frozenset[str]) -> set[str]:
        """Those of these chunks whose document one of these groups may read (by the manifest)."""
        if not chunk_ids or not allowed:
            return set()
        with self._db() as db:
            rows = db.execute(
                "SELECT c.chunk_id FROM rag_chunks c JOIN rag_documents d "
                "ON d.collection = c.collection AND d.source = c.source "
                "WHERE c.collection = %s AND c.chunk_id = ANY(%s) AND d.groups && %s::text[]",
                (self._cid, list(chunk_ids), sorted(allowed)),
            ).fetchall()
        return {r[0] for r in rows}

    def doc_freq(self, stems: list[str]) -> dict[str, int]:
        """How many chunks hold each term, given as the index stores it (rag/index/terms.py)."""
        if not stems:
            return {}
        with self._db() as db:
            rows = db.execute(
                "SELECT term, df FROM rag_terms WHERE collection = %s AND term = ANY(%s) AND df > 0",
                (self._cid, list(stems)),
            ).fetchall()
        return {term: int(n) for term, n in rows}

    def chunk_sources(self) -> dict[str, str]:
        """Every chunk id with its document's source (evaluation maps ranked chunks to documents)."""
        with self._db() as db:
            return dict(
                db.execute("SELECT chunk_id, source FROM rag_chunks WHERE collection = %s", (self._cid,)).fetchall()
            )

    def count(self) -> int:
        with self._db() as db:
            row = db.execute("SELECT n_chunks FROM rag_collections WHERE id = %s", (self._cid,)).fetchone()
        return int(row[0])

    def languages(self) -> dict[str, int]:
        """How many chunks are in each language, as detected at ingest ("" for chunks not analysed yet)."""
        with self._db() as db:
            rows = db.execute(
                "SELECT coalesce(lang, ''), count(*) FROM rag_chunks WHERE collection = %s GROUP BY 1", (self._cid,)
            ).fetchall()
        return {lang: int(n) for lang, n in rows}

    # --- the document manifest ---------------------------------------------------------------------
    def record(self, source: str) -> DocumentRecord | None:
        with self._db() as db:
            row = db.execute(
                f"SELECT {_RECORD} FROM rag_documents WHERE collection = %s AND source = %s", (self._cid, source)
            ).fetchone()
        return _record(row) if row else None

    def records(self) -> list[DocumentRecord]:
        with self._db() as db:
            rows = db.execute(
                f'SELECT {_RECORD} FROM rag_documents WHERE collection = %s ORDER BY source COLLATE "C"',
                (self._cid,),
            ).fetchall()
        return [_record(r) for r in rows]

    def source_of(self, document_id: str) -> str | None:
        with self._db() as db:
            row = db.execute(
                "SELECT source FROM rag_documents WHERE collection = %s AND doc_id = %s", (self._cid, document_id)
            ).fetchone()
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
        with self._db() as db:
            db.execute(
                f"INSERT INTO rag_documents (collection, {_RECORD}, doc_id) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (collection, source) DO UPDATE SET sha256 = EXCLUDED.sha256, title = EXCLUDED.title, "
                "date = EXCLUDED.date, chunks = EXCLUDED.chunks, page_starts = EXCLUDED.page_starts, "
                "ingested_at = EXCLUDED.ingested_at, doc_id = EXCLUDED.doc_id, groups = EXCLUDED.groups",
                (
                    self._cid,
                    source,
                    sha256,
                    title,
                    date,
                    chunks,
                    json.dumps(list(page_starts)),
                    time.time(),
                    list(groups),
                    document_id(source),
                ),
            )

    def set_groups(self, source: str, groups: tuple[str, ...]) -> None:
        """Change who may read a recorded document (a rule changed): the manifest only, nothing re-embedded."""
        with self._db() as db:
            db.execute(
                "UPDATE rag_documents SET groups = %s WHERE collection = %s AND source = %s",
                (list(groups), self._cid, source),
            )

    def forget(self, source: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM rag_documents WHERE collection = %s AND source = %s", (self._cid, source))

    def sources_with_chunks(self) -> set[str]:
        with self._db() as db:
            rows = db.execute("SELECT DISTINCT source FROM rag_chunks WHERE collection = %s", (self._cid,))
            return {r[0] for r in rows.fetchall()}


_RECORD = "source, sha256, title, date, chunks, page_starts, ingested_at, groups"


def _record(row: tuple) -> DocumentRecord:  # type: ignore[type-arg]
    return DocumentRecord(row[0], row[1], row[2], row[3], row[4], tuple(json.loads(row[5])), row[6], tuple(row[7]))
