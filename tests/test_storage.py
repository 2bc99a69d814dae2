"""One storage factory (rag/index/storage.py) and numbered schema migrations recorded in the database: an
index built by the code before migrations (commit 4a6b130, whose schemas are copied below verbatim) opens,
keeps its documents and gets its migrations recorded, on SQLite and on PostgreSQL."""

from __future__ import annotations

import inspect
import sqlite3
import time
from pathlib import Path

from rag.index.embeddings import MiniLMEmbedder
from rag.index.postgres import PgKeywordIndex
from rag.index.storage import make_feedback
from rag.ingest.indexer import Ingestor
from rag.pipeline import build
from tests.conftest import make_settings
from tests.fakes.openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent

# rag/keyword.py's and rag/feedback.py's SQLite schemas at 4a6b130; the feedback file as Slack-only votes left it
# (before comments, a column the old code added by hand).
OLD_KEYWORD_SQLITE = """
CREATE TABLE IF NOT EXISTS documents (
    source TEXT PRIMARY KEY, sha256 TEXT NOT NULL, title TEXT, date TEXT, chunks INTEGER NOT NULL,
    page_starts TEXT NOT NULL DEFAULT '[]', ingested_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE NOT NULL, source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks(source);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    title, text, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""
OLD_FEEDBACK_SQLITE = """
CREATE TABLE answers (
    answer_id TEXT PRIMARY KEY, created REAL NOT NULL, surface TEXT NOT NULL, place TEXT NOT NULL,
    asker TEXT NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL, refused INTEGER NOT NULL,
    citations TEXT NOT NULL
);
CREATE TABLE feedback (
    answer_id TEXT NOT NULL REFERENCES answers(answer_id), user TEXT NOT NULL, rating TEXT NOT NULL,
    at REAL NOT NULL, PRIMARY KEY (answer_id, user)
);
"""
# rag/index/postgres.py's schema at 4a6b130.
OLD_KEYWORD_PG = """
CREATE TABLE IF NOT EXISTS rag_collections (
    id serial PRIMARY KEY, name text UNIQUE NOT NULL,
    n_chunks bigint NOT NULL DEFAULT 0, n_tokens bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS rag_documents (
    collection int NOT NULL REFERENCES rag_collections(id), source text NOT NULL, sha256 text NOT NULL,
    title text, date text, chunks int NOT NULL, page_starts text NOT NULL DEFAULT '[]',
    ingested_at double precision NOT NULL, PRIMARY KEY (collection, source)
);
CREATE TABLE IF NOT EXISTS rag_chunks (
    id bigserial PRIMARY KEY, collection int NOT NULL REFERENCES rag_collections(id), chunk_id text NOT NULL,
    source text NOT NULL, length int NOT NULL, UNIQUE (collection, chunk_id)
);
ALTER TABLE rag_chunks ADD COLUMN IF NOT EXISTS text text;
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
TEXT = "Serbia would import gas from Azerbaijan and sell the electricity on the EU market."


def recorded(db: sqlite3.Connection) -> set[tuple[str, int]]:
    return {(c, v) for c, v in db.execute("SELECT component, version FROM seedrag_migrations")}


def test_a_sqlite_index_from_before_migrations_opens_and_is_upgraded(
    tmp_path: Path, fake_llm: FakeOpenAI, embedder: MiniLMEmbedder
) -> None:
    settings = make_settings(tmp_path / "data", fake_llm.base_url)
    settings.data_dir.mkdir(parents=True)
    with sqlite3.connect(settings.data_dir / f"keyword-{settings.collection}.sqlite") as db:
        db.executescript(OLD_KEYWORD_SQLITE)
        db.execute("INSERT INTO documents VALUES ('/docs/a.txt', 'abc', 'A', NULL, 1, '[]', ?)", (time.time(),))
        db.execute("INSERT INTO chunks (rowid, chunk_id, source) VALUES (1, 'a-1', '/docs/a.txt')")
        db.execute("INSERT INTO chunks_fts (rowid, title, text) VALUES (1, 'A', ?)", (TEXT,))
    with sqlite3.connect(settings.data_dir / "feedback.sqlite") as db:
        db.executescript(OLD_FEEDBACK_SQLITE)
        db.execute("INSERT INTO answers VALUES ('ans1', ?, 'slack', 'C1', 'U1', 'q?', 'a.', 0, '[]')", (time.time(),))
        db.execute("INSERT INTO feedback VALUES ('ans1', 'U1', 'helpful', ?)", (time.time(),))

    pipe = build(settings, embedder=embedder)
    try:
        assert [r.source for r in pipe.keywords.records()] == ["/docs/a.txt"]
        assert [cid for cid, _ in pipe.keywords.search("Azerbaijan gas", 5)] == ["a-1"]
        # Documents from before access rules stay readable by everyone (issue 20's migration).
        assert pipe.keywords.records()[0].groups == ("everyone",)
        assert [cid for cid, _ in pipe.keywords.search("Azerbaijan gas", 5, allowed=frozenset({"everyone"}))] == ["a-1"]
        store = make_feedback(settings)
        [vote] = store.recent(5, None)
        assert vote.rating == "helpful" and vote.comment == ""  # the old vote, with the column it lacked
    finally:
        pipe.close()
    with sqlite3.connect(settings.data_dir / f"keyword-{settings.collection}.sqlite") as db:
        assert recorded(db) == {("keyword", 1), ("keyword", 2)}
    with sqlite3.connect(settings.data_dir / "feedback.sqlite") as db:
        assert recorded(db) == {("feedback", 1), ("feedback", 2)}


def test_a_postgres_index_from_before_migrations_opens_and_is_upgraded(postgres_url: str) -> None:
    from rag.index.database import connect

    with connect(postgres_url) as conn:
        conn.execute(OLD_KEYWORD_PG)
    old = PgKeywordIndex(postgres_url, "docs")  # the tables exist: the data below is what an old index holds
    old.add("/docs/a.txt", "A", [("a-1", TEXT)])
    old.put_record("/docs/a.txt", "abc", "A", None, 1, ())
    with connect(postgres_url) as conn:
        conn.execute("DROP TABLE seedrag_migrations")  # as the old code left it: nothing recorded
    old.close()

    index = PgKeywordIndex(postgres_url, "docs")
    try:
        assert [r.source for r in index.records()] == ["/docs/a.txt"]
        assert [cid for cid, _ in index.search("Azerbaijan gas", 5)] == ["a-1"]
        assert index.records()[0].groups == ("everyone",)
        assert [cid for cid, _ in index.search("Azerbaijan gas", 5, allowed=frozenset({"everyone"}))] == ["a-1"]
    finally:
        index.close()
    with connect(postgres_url) as conn:
        rows = conn.execute("SELECT component, version FROM seedrag_migrations").fetchall()
    assert {(c, v) for c, v in rows} == {("keyword", 1), ("keyword", 2), ("keyword", 3)}


def test_one_place_chooses_the_storage() -> None:
    """Only the storage module reads RAG_DATABASE_URL (and Settings, which defines it)."""
    readers = sorted(
        str(p.relative_to(ROOT))
        for folder in ("rag", "api")
        for p in (ROOT / folder).rglob("*.py")
        if "database_url" in p.read_text(encoding="utf-8")
    )
    assert readers == ["rag/config.py", "rag/index/storage.py"]


def test_the_writer_lock_is_the_storage_s_never_a_default() -> None:
    """A file lock is the wrong lock for an index in PostgreSQL: the Ingestor is given its lock, always."""
    assert inspect.signature(Ingestor).parameters["lock"].default is inspect.Parameter.empty
