"""The keyword index per language, on both backends: German and Chinese documents ingested through the pipeline
are found by keyword search with a question in their language (stems and words as rag/text makes them), each
chunk's language is stored, and the migration rebuilds an index of the English-only format from its stored
text without embedding anything again."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from rag.config import Settings
from rag.index.embeddings import MiniLMEmbedder
from rag.index.postgres import PgKeywordIndex
from rag.pipeline import Pipeline, build
from rag.text import terms
from tests.test_keyword_sync import FailingEmbedder
from tests.test_pg_index import stored
from tests.test_pg_pipeline import shared

DOCS = {
    "krankenhaus.md": "# Krankenhäuser in Hamburg\n\n"
    "In den städtischen Krankenhäusern der Hansestadt stehen insgesamt zwölftausend Betten. Die Kliniken "
    "beschäftigen viele Pflegekräfte, und die Notaufnahmen sind rund um die Uhr geöffnet.",
    "hafen.md": "# 上海港\n\n上海港是世界上最繁忙的集装箱港口之一。每年有数千万个标准集装箱在这里装卸，"
    "许多船舶从这里驶往欧洲和美洲。",
    "turbines.md": "# Wind turbines\n\nTurbines on the ridge turn their blades slowly in a westerly wind.",
}
# Each question inflects or runs together what its document says: found only through stems and segmentation.
QUESTIONS = {
    "krankenhaus.md": "Wie viele Betten hat ein städtisches Krankenhaus in Hamburg?",
    "hafen.md": "上海的集装箱港口有多忙？",
    "turbines.md": "Which turbine blades turn in the wind?",
}


def write(folder: Path) -> Path:
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(params=["sqlite", "postgres"])
def pipe(
    request: pytest.FixtureRequest, settings: Settings, embedder: MiniLMEmbedder, tmp_path: Path
) -> Iterator[Pipeline]:
    if request.param == "sqlite":
        p = build(settings, embedder=embedder)
    else:
        p = shared(settings, request.getfixturevalue("postgres_url"), embedder, tmp_path / "chroma")
    yield p
    p.close()


def keyword_top(pipe: Pipeline, question: str) -> str:
    hits = pipe.retriever.keyword_search(question, 10)
    assert hits, f"no keyword hit for {question!r}"
    return Path(pipe.keywords.chunk_sources()[hits[0][0]]).name


def test_german_and_chinese_documents_are_found_by_a_question_in_their_language(pipe: Pipeline, tmp_path: Path) -> None:
    pipe.ingestor.ingest([write(tmp_path / "docs")])
    for name, question in QUESTIONS.items():
        assert keyword_top(pipe, question) == name, question
    # The terms that did it: the German plural and the run-together Chinese question share stems and words.
    assert "krankenhaus" in terms(QUESTIONS["krankenhaus.md"]) and "krankenhaus" in terms(DOCS["krankenhaus.md"])
    assert {"集装箱", "港口"} <= set(terms(QUESTIONS["hafen.md"])) & set(terms(DOCS["hafen.md"]))
    # Each chunk's language is in Chroma's metadata, a plain string to filter by.
    langs = {Path(m["source"]).name: m["lang"] for m in pipe.vectors.collection.get(include=["metadatas"])["metadatas"]}
    assert langs == {"krankenhaus.md": "de", "hafen.md": "zh", "turbines.md": "en"}


def _to_english_only_format(path: Path) -> None:
    """The SQLite keyword file as seedrag wrote it before issue 21: FTS5's porter tokenizer over the raw text,
    no language column, migration 2 not recorded."""
    db = sqlite3.connect(str(path))
    rows = db.execute("SELECT rowid, title, text FROM chunks_fts").fetchall()
    db.execute("DROP TABLE chunks_fts")
    db.execute(
        "CREATE VIRTUAL TABLE chunks_fts USING fts5(title, text, tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    db.executemany("INSERT INTO chunks_fts(rowid, title, text) VALUES (?, ?, ?)", rows)
    db.execute("ALTER TABLE chunks DROP COLUMN lang")
    db.execute("DELETE FROM seedrag_migrations WHERE component = 'keyword' AND version = 2")
    db.commit()
    db.close()


def test_the_migration_rebuilds_an_english_only_sqlite_index_without_embedding(
    settings: Settings, embedder: MiniLMEmbedder, tmp_path: Path
) -> None:
    folder = write(tmp_path / "docs")
    first = build(settings, embedder=embedder)
    first.ingestor.ingest([folder])
    chunks = first.keywords.count()
    first.close()
    path = settings.data_dir / f"keyword-{settings.collection}.sqlite"
    _to_english_only_format(path)
    old = sqlite3.connect(str(path))
    assert old.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'krankenhaus'").fetchone()[0] == 0
    old.close()

    # An embedder that fails if asked for anything: opening, re-ingesting and searching embed nothing.
    pipe = build(settings, embedder=FailingEmbedder(embedder, budget=0))
    report = pipe.ingestor.ingest([folder])
    assert pipe.keywords.count() == chunks and report.embedded == 0 and report.count("unchanged") == len(DOCS)
    for name, question in QUESTIONS.items():
        assert keyword_top(pipe, question) == name, question
    db = sqlite3.connect(str(path))
    assert dict(db.execute("SELECT lang, count(*) FROM chunks GROUP BY lang")).keys() == {"de", "zh", "en"}
    db.close()
    pipe.close()


def test_the_migration_rebuilds_an_english_only_postgres_index(postgres_url: str) -> None:
    items = {name: [(f"{name}-1", text.split("\n\n", 1)[1])] for name, text in DOCS.items()}
    index = PgKeywordIndex(postgres_url, "old")
    for name, chunk in items.items():
        index.add(name, DOCS[name].split("\n")[0].lstrip("# "), chunk)
        index.put_record(name, "0" * 64, DOCS[name].split("\n")[0].lstrip("# "), None, 1, ())
    index.close()
    want = stored(postgres_url, "old")
    with psycopg.connect(postgres_url, autocommit=True) as db:
        # Back to the format before issue 21: English-only terms (here: the raw lower-case words), no language.
        db.execute("DELETE FROM rag_postings")
        db.execute("DELETE FROM rag_terms")
        db.execute(
            "INSERT INTO rag_postings (collection, term, chunk, in_title, in_text, length) "
            "SELECT collection, w, id, 0, 1, 1 FROM rag_chunks, unnest(string_to_array(lower(text), ' ')) w "
            "GROUP BY collection, w, id"
        )
        db.execute("UPDATE rag_collections SET n_tokens = 1")
        db.execute("ALTER TABLE rag_chunks DROP COLUMN lang")
        db.execute("DELETE FROM seedrag_migrations WHERE component = 'keyword' AND version = 3")
    index = PgKeywordIndex(postgres_url, "old")
    assert stored(postgres_url, "old") == want, "postings, frequencies and lengths as a fresh index has them"
    for name, question in QUESTIONS.items():
        hits = index.search(question, 5)
        assert hits and hits[0][0] == f"{name}-1", question
    with psycopg.connect(postgres_url) as db:
        langs = dict(db.execute("SELECT chunk_id, lang FROM rag_chunks").fetchall())
    assert langs == {"krankenhaus.md-1": "de", "hafen.md-1": "zh", "turbines.md-1": "en"}
    index.close()


def test_feedback_expansion_gives_index_terms_in_each_passage_language(tmp_path: Path) -> None:
    """Pseudo-relevance feedback picks terms of the feedback passages as the index stores them (German stems,
    Chinese words), so their document frequencies are found and a search for them matches."""
    from rag.index.keyword import KeywordIndex
    from rag.retrieval.expansion import expansion_terms

    passages = [
        "Die städtischen Krankenhäuser haben viele Betten und Pflegekräfte.",
        "Krankenhäuser brauchen Pflegekräfte und Betten in der Notaufnahme.",
        "上海港是世界上最繁忙的集装箱港口之一。集装箱在这里装卸。",
        "上海港口的集装箱码头很大，集装箱很多。",
        "Wind turbines on the ridge.",
    ]
    index = KeywordIndex(tmp_path / "k.sqlite")
    index.add("/all.md", "", [(f"c{i}", text) for i, text in enumerate(passages)])
    added = expansion_terms(passages[:4], ["krankenhaus"], index.doc_freq, index.count(), 10)
    assert {"pflegekraft", "bett", "集装箱", "港口"} <= set(added) and "krankenhaus" not in added
    assert {cid for cid, _ in index.search_any(added, 10)} == {"c0", "c1", "c2", "c3"}
    index.close()
