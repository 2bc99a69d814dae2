"""Answers given and what people thought of them: a SQLite file a maintainer can read (`rag feedback`).

Every answer given (in Slack, on the chat page, through POST /v1/ask) is remembered under an id that its
feedback buttons carry, so a vote records the question, the answer and its citations as they were, even if
the index has changed. One vote per person per answer: clicking the other button changes it.

Two stores with the same methods, chosen by settings (`make_feedback`), as for uploaded originals:
- `FeedbackStore` (the embedded default, as before): `data/feedback.sqlite`, one file per data dir.
- `PostgresFeedback` (`RAG_DATABASE_URL` set): tables in the shared database, so a vote taken by one replica
  is listed by every other (`GET /v1/feedback`, `rag feedback` on any machine).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from rag.index.database import Migrations, connect, migrate_postgres, migrate_sqlite

Rating = Literal["helpful", "not_helpful"]
RATINGS: tuple[Rating, ...] = ("helpful", "not_helpful")
# Answers nobody rated are dropped after this long: their buttons are unlikely to be clicked now.
KEEP_UNRATED_S = 30 * 24 * 3600

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    answer_id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    surface TEXT NOT NULL,          -- where it was asked: 'slack', 'page', 'api'
    place TEXT NOT NULL,            -- e.g. the Slack channel and thread
    asker TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    refused INTEGER NOT NULL,
    citations TEXT NOT NULL         -- JSON list of citation dicts
);
CREATE INDEX IF NOT EXISTS answers_created ON answers(created);
CREATE TABLE IF NOT EXISTS feedback (
    answer_id TEXT NOT NULL REFERENCES answers(answer_id),
    user TEXT NOT NULL,
    rating TEXT NOT NULL,
    at REAL NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (answer_id, user)
);
CREATE INDEX IF NOT EXISTS feedback_at ON feedback(at);
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
"""


def _add_comment(db: Any) -> None:
    # Files from before comments existed (Slack votes only) get the column; their votes keep ''.
    if "comment" not in {row[1] for row in db.execute("PRAGMA table_info(feedback)")}:
        db.execute("ALTER TABLE feedback ADD COLUMN comment TEXT NOT NULL DEFAULT ''")


MIGRATIONS: Migrations = [(1, _SCHEMA), (2, _add_comment)]


@dataclass(frozen=True)
class FeedbackRecord:
    at: float
    rating: str
    user: str
    surface: str
    place: str
    question: str
    answer: str
    refused: bool
    citations: list[dict[str, Any]]
    comment: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at)),
            "rating": self.rating,
            "user": self.user,
            "surface": self.surface,
            "place": self.place,
            "question": self.question,
            "answer": self.answer,
            "refused": self.refused,
            "citations": self.citations,
            "comment": self.comment,
        }


class UnknownAnswer(KeyError):
    """Feedback for an answer this store never saw (or has pruned)."""


class Feedback(Protocol):
    """Where answers and the votes on them are kept."""

    def remember(
        self,
        answer_id: str,
        *,
        surface: str,
        place: str,
        asker: str,
        question: str,
        answer: str,
        refused: bool,
        citations: list[dict[str, Any]],
    ) -> None:
        """Keep an answer for later votes; unrated answers older than KEEP_UNRATED_S are dropped."""
        ...

    def record(self, answer_id: str, user: str, rating: str, comment: str = "", asker: str | None = None) -> None:
        """Record (or change) one person's vote; UnknownAnswer if the answer is not remembered, or (with `asker`)
        was not given to that asker: a caller votes on its own answers only, and learns nothing of others'."""
        ...

    def recent(self, limit: int = 20, rating: str | None = None) -> list[FeedbackRecord]:
        """The latest votes first, each with the question, answer and citations it judged."""
        ...

    def counts(self) -> dict[str, int]:
        """Votes by rating, every rating present."""
        ...

    def salt(self) -> bytes:
        """A random secret made once per store (and shared by every replica of it), for naming voters by a
        keyed hash of their API key: stable across restarts, and of no use to anyone without the store."""
        ...


def _check(rating: str) -> None:
    if rating not in RATINGS:
        raise ValueError(f"rating must be one of {RATINGS}, not {rating!r}")


class FeedbackStore:
    """A connection per call: callers are worker threads, and opening SQLite costs ~0.1 ms."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            migrate_sqlite(db, "feedback", MIGRATIONS)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            with db:  # one transaction, committed on success
                yield db
        finally:
            db.close()

    def remember(
        self,
        answer_id: str,
        *,
        surface: str,
        place: str,
        asker: str,
        question: str,
        answer: str,
        refused: bool,
        citations: list[dict[str, Any]],
    ) -> None:
        now = time.time()
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (answer_id, now, surface, place, asker, question, answer, int(refused), json.dumps(citations)),
            )
            db.execute(
                "DELETE FROM answers WHERE created < ? AND answer_id NOT IN (SELECT answer_id FROM feedback)",
                (now - KEEP_UNRATED_S,),
            )

    def record(self, answer_id: str, user: str, rating: str, comment: str = "", asker: str | None = None) -> None:
        """Record (or change) one person's vote; UnknownAnswer if the answer is not remembered (for `asker`)."""
        _check(rating)
        with self._db() as db:
            sql, args = "SELECT 1 FROM answers WHERE answer_id = ?", [answer_id]
            if asker is not None:
                sql, args = sql + " AND asker = ?", [answer_id, asker]
            if db.execute(sql, args).fetchone() is None:
                raise UnknownAnswer(answer_id)
            db.execute(
                "INSERT OR REPLACE INTO feedback (answer_id, user, rating, at, comment) VALUES (?, ?, ?, ?, ?)",
                (answer_id, user, rating, time.time(), comment),
            )

    def recent(self, limit: int = 20, rating: str | None = None) -> list[FeedbackRecord]:
        """The latest votes first, each with the question, answer and citations it judged."""
        sql = (
            "SELECT f.at, f.rating, f.user, a.surface, a.place, a.question, a.answer, a.refused, a.citations, "
            "f.comment FROM feedback f JOIN answers a USING (answer_id)"
        )
        args: tuple[Any, ...] = ()
        if rating:
            sql += " WHERE f.rating = ?"
            args = (rating,)
        sql += " ORDER BY f.at DESC LIMIT ?"
        with self._db() as db:
            rows = db.execute(sql, (*args, limit)).fetchall()
        return [
            FeedbackRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), json.loads(r[8]), r[9]) for r in rows
        ]

    def counts(self) -> dict[str, int]:
        with self._db() as db:
            rows = db.execute("SELECT rating, COUNT(*) FROM feedback GROUP BY rating").fetchall()
        return {rating: 0 for rating in RATINGS} | {r: n for r, n in rows}

    def salt(self) -> bytes:
        with self._db() as db:
            db.execute("INSERT OR IGNORE INTO secrets VALUES ('voter_salt', ?)", (secrets.token_bytes(32),))
            return bytes(db.execute("SELECT value FROM secrets WHERE name = 'voter_salt'").fetchone()[0])


def feedback_path(data_dir: Path) -> Path:
    return data_dir / "feedback.sqlite"


# The collection is part of every key: an answer comes from one collection's documents and its citations name
# them, and two deployments sharing a database (a team's and another's, staging and production) must not
# read each other's questions. Unlike the SQLite file, which holds whatever the data dir's replica answered.
_PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback_answers (
    collection text NOT NULL, answer_id text NOT NULL, created double precision NOT NULL,
    surface text NOT NULL, place text NOT NULL, asker text NOT NULL, question text NOT NULL,
    answer text NOT NULL, refused boolean NOT NULL, citations jsonb NOT NULL,
    PRIMARY KEY (collection, answer_id)
);
CREATE INDEX IF NOT EXISTS feedback_answers_created ON feedback_answers (collection, created);
CREATE TABLE IF NOT EXISTS feedback_votes (
    collection text NOT NULL, answer_id text NOT NULL, voter text NOT NULL, rating text NOT NULL,
    at double precision NOT NULL, comment text NOT NULL DEFAULT '',
    PRIMARY KEY (collection, answer_id, voter),
    FOREIGN KEY (collection, answer_id) REFERENCES feedback_answers (collection, answer_id)
);
CREATE INDEX IF NOT EXISTS feedback_votes_at ON feedback_votes (collection, at);
CREATE TABLE IF NOT EXISTS feedback_secrets (
    collection text NOT NULL, name text NOT NULL, value bytea NOT NULL, PRIMARY KEY (collection, name)
);
"""


PG_MIGRATIONS = [(1, _PG_SCHEMA)]


class PostgresFeedback:
    """Answers and votes in the shared database; every replica reads and writes the same rows."""

    def __init__(self, url: str, collection: str) -> None:
        self.url, self.collection = url, collection
        with self._connect() as conn:
            migrate_postgres(conn, "feedback", PG_MIGRATIONS)

    def _connect(self) -> Any:
        # A connection per call, as for originals: one answer or vote at a time, each taking seconds of LLM
        # time anyway, and nothing held open across a restart of the database.
        return connect(self.url)

    def remember(
        self,
        answer_id: str,
        *,
        surface: str,
        place: str,
        asker: str,
        question: str,
        answer: str,
        refused: bool,
        citations: list[dict[str, Any]],
    ) -> None:
        now, cited = time.time(), json.dumps(citations)
        row = (self.collection, answer_id, now, surface, place, asker, question, answer, refused, cited)
        with self._connect() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO feedback_answers VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (collection, answer_id) DO UPDATE SET created = EXCLUDED.created, "
                "surface = EXCLUDED.surface, place = EXCLUDED.place, asker = EXCLUDED.asker, "
                "question = EXCLUDED.question, answer = EXCLUDED.answer, refused = EXCLUDED.refused, "
                "citations = EXCLUDED.citations",
                row,
            )
            conn.execute(
                "DELETE FROM feedback_answers a WHERE a.collection = %s AND a.created < %s AND NOT EXISTS "
                "(SELECT 1 FROM feedback_votes v WHERE v.collection = a.collection AND v.answer_id = a.answer_id)",
                (self.collection, now - KEEP_UNRATED_S),
            )

    def record(self, answer_id: str, user: str, rating: str, comment: str = "", asker: str | None = None) -> None:
        import psycopg

        _check(rating)
        try:
            with self._connect() as conn:
                if asker is not None:
                    given = conn.execute(
                        "SELECT 1 FROM feedback_answers WHERE collection = %s AND answer_id = %s AND asker = %s",
                        (self.collection, answer_id, asker),
                    ).fetchone()
                    if given is None:
                        raise UnknownAnswer(answer_id)
                # One statement: the foreign key is the check that the answer is known, so a vote racing the
                # pruning of its (old, unrated) answer on another replica fails cleanly instead of dangling.
                conn.execute(
                    "INSERT INTO feedback_votes (collection, answer_id, voter, rating, at, comment) "
                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (collection, answer_id, voter) "
                    "DO UPDATE SET rating = EXCLUDED.rating, at = EXCLUDED.at, comment = EXCLUDED.comment",
                    (self.collection, answer_id, user, rating, time.time(), comment),
                )
        except psycopg.errors.ForeignKeyViolation:
            raise UnknownAnswer(answer_id) from None

    def recent(self, limit: int = 20, rating: str | None = None) -> list[FeedbackRecord]:
        sql = (
            "SELECT v.at, v.rating, v.voter, a.surface, a.place, a.question, a.answer, a.refused, a.citations, "
            "v.comment FROM feedback_votes v JOIN feedback_answers a USING (collection, answer_id) "
            "WHERE v.collection = %s"
        )
        args: tuple[Any, ...] = (self.collection,)
        if rating:
            sql += " AND v.rating = %s"
            args += (rating,)
        with self._connect() as conn:
            rows = conn.execute(sql + " ORDER BY v.at DESC LIMIT %s", (*args, limit)).fetchall()
        # jsonb comes back already decoded.
        return [FeedbackRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8], r[9]) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT rating, COUNT(*) FROM feedback_votes WHERE collection = %s GROUP BY rating", (self.collection,)
            ).fetchall()
        return {rating: 0 for rating in RATINGS} | {r: int(n) for r, n in rows}

    def salt(self) -> bytes:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO feedback_secrets VALUES (%s, 'voter_salt', %s) ON CONFLICT DO NOTHING",
                (self.collection, secrets.token_bytes(32)),
            )
            row = conn.execute(
                "SELECT value FROM feedback_secrets WHERE collection = %s AND name = 'voter_salt'", (self.collection,)
            ).fetchone()
        return bytes(row[0])
