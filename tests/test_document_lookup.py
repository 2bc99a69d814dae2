"""A document named by its API id is one indexed lookup in the manifest (issue 19, 2): GET .../original and
DELETE never read every chunk (or every document) of the index, found or not."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx

from rag.index.keyword import KeywordIndex, document_id
from rag.index.postgres import PgKeywordIndex
from rag.pipeline import Pipeline
from tests.api_support import serve_api
from tests.conftest import SEEDS


def test_a_lookup_by_id_reads_neither_the_chunks_nor_the_whole_manifest(pipeline: Pipeline) -> None:
    pipeline.ingestor.ingest([SEEDS])
    keywords = pipeline.keywords
    assert isinstance(keywords, KeywordIndex)
    statements: list[str] = []
    with serve_api(pipeline) as api:
        up = httpx.post(f"{api.url}/v1/documents", files=[("files", ("a.md", b"Gas comes by pipeline."))], timeout=60)
        assert up.status_code == 200, up.text
        (doc,) = [d for d in httpx.get(f"{api.url}/v1/documents").json()["documents"] if d["name"] == "a.md"]
        keywords._db.set_trace_callback(statements.append)  # what SQLite runs, seen, not changed
        try:
            assert httpx.get(f"{api.url}/v1/documents/{doc['id']}/original").content == b"Gas comes by pipeline."
            assert httpx.get(f"{api.url}/v1/documents/ffff0000ffff0000/original").status_code == 404
            assert httpx.delete(f"{api.url}/v1/documents/ffff0000ffff0000").status_code == 404
            assert httpx.delete(f"{api.url}/v1/documents/not-an-id").status_code == 404
        finally:
            keywords._db.set_trace_callback(None)
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert reads, "the lookups ran no query at all?"
    assert not [s for s in reads if "FROM chunks" in s], reads
    assert not [s for s in reads if "FROM documents" in s and "WHERE" not in s], reads


def test_a_manifest_from_before_the_ids_gains_them(tmp_path: Path) -> None:
    path = tmp_path / "keyword.sqlite"
    with sqlite3.connect(path) as db:  # the documents table as earlier versions wrote it
        db.execute(
            "CREATE TABLE documents (source TEXT PRIMARY KEY, sha256 TEXT NOT NULL, title TEXT, date TEXT, "
            "chunks INTEGER NOT NULL, page_starts TEXT NOT NULL DEFAULT '[]', ingested_at REAL NOT NULL)"
        )
        db.execute("INSERT INTO documents VALUES ('/docs/old.md', 'abc', 'Old', NULL, 2, '[]', 1.0)")
    db.close()
    index = KeywordIndex(path)
    assert index.source_of(document_id("/docs/old.md")) == "/docs/old.md"
    index.put_record("/docs/new.md", "def", "New", None, 1, ())
    assert index.source_of(document_id("/docs/new.md")) == "/docs/new.md"
    assert index.source_of("ffff0000ffff0000") is None
    assert [r.source for r in index.records()] == ["/docs/new.md", "/docs/old.md"]
    index.close()


def test_postgres_looks_documents_up_by_id(postgres_url: str) -> None:
    index = PgKeywordIndex(postgres_url, "lookup")
    other = PgKeywordIndex(postgres_url, "lookup-other")
    index.put_record("uploads/a.md", "abc", "A", None, 1, ())
    assert index.source_of(document_id("uploads/a.md")) == "uploads/a.md"
    assert other.source_of(document_id("uploads/a.md")) is None  # collections do not share documents
    assert index.source_of("ffff0000ffff0000") is None
    index.forget("uploads/a.md")
    assert index.source_of(document_id("uploads/a.md")) is None
    index.close()
    other.close()
