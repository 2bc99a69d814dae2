"""The uploaded-originals store in the shared database: versions keyed by hash, the manifest's one served."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rag.index.originals import PostgresOriginals


def staged(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / hashlib.sha256(data).hexdigest()
    path.write_bytes(data)
    return path


def test_versions_in_postgres_put_keep_undo_remove(postgres_url: str, tmp_path: Path) -> None:
    # Two replicas opening the store at once both find the table (its creation is serialised).
    with ThreadPoolExecutor(4) as pool:
        replicas = list(pool.map(lambda _: PostgresOriginals(postgres_url, "docs"), range(4)))
    a, b = replicas[0], replicas[1]
    other = PostgresOriginals(postgres_url, "other-collection")
    assert a.source("policy.md") == b.source("policy.md") == "uploads/policy.md"  # no replica's disk in it

    v1, v2, v3 = b"version one", b"version two", b"not utf-8 \xff"
    sha1, sha2, sha3 = (hashlib.sha256(v).hexdigest() for v in (v1, v2, v3))
    put = a.put("policy.md", staged(tmp_path, v1))
    assert put == sha1 and not (tmp_path / sha1).exists()
    a.keep("policy.md", put)
    assert b.read("uploads/policy.md", sha1) == v1  # another replica reads it
    assert other.read("uploads/policy.md", sha1) is None  # collections do not share originals

    a.undo("policy.md", b.put("policy.md", staged(tmp_path, v3)))  # refused by the loader
    assert a.read("uploads/policy.md", sha3) is None and a.read("uploads/policy.md", sha1) == v1

    # Killed between storing the bytes and recording the ingest: the new version waits, unserved, beside
    # the one the manifest records, until the next upload of the name settles it.
    b.abandon("policy.md", b.put("policy.md", staged(tmp_path, v2)))
    assert a.read("uploads/policy.md", sha1) == v1 and a.read("uploads/policy.md", sha2) == v2
    a.keep("policy.md", a.put("policy.md", staged(tmp_path, v2)))
    assert a.read("uploads/policy.md", sha1) is None and b.read("uploads/policy.md", sha2) == v2

    b.remove("uploads/policy.md")
    assert a.read("uploads/policy.md", sha2) is None
    b.remove("uploads/never-uploaded.md")  # a document from a folder: nothing to do
