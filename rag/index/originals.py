"""Uploaded originals: the bytes a user sent over the API, kept so that a citation's `source[start:end]` can be
checked against them (GET /v1/documents/{id}/original) and a rejected new version can give way to the old one.

Two stores, chosen by settings:
- `FolderOriginals` (the embedded default, as before): files under `data/uploads`, the document's source is
  the file's absolute path, a new version is swapped in and the previous one put back if the loader refuses it.
- `PostgresOriginals` (`RAG_DATABASE_URL` set): bytes in a table of the shared database, one row per
  (collection, source, sha256). Postgres rather than a directory meant to be shared: the replicas already
  need the database for the manifest and the lock, so it adds no engine; a shared folder (NFS, a volume
  mounted on every machine) would be one more thing to provision, and its locking and rename semantics over
  the network are exactly what the writer lock must not depend on. Uploads are capped (RAG_MAX_UPLOAD_MB,
  20 MB), which `bytea` holds comfortably. A version is keyed by its hash and the one served is the one the
  manifest records, so a replica killed between storing the bytes and recording the ingest can never serve
  bytes that disagree with the index's spans: the orphaned version is never read and is dropped by the next
  upload of that name.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import Any, Protocol

from rag.index.database import connect, migrate_postgres


class Originals(Protocol):
    """Where uploaded files live. Every write happens under the index's writer lock."""

    def source(self, name: str) -> str:
        """The identity (Document.source) of the upload stored under `name` (a safe_name)."""
        ...

    def put(self, name: str, staged: Path) -> Any:
        """Store a new version of `name` from the staged file; returns what `keep`/`undo` need to finish."""
        ...

    def keep(self, name: str, put: Any) -> None:
        """The new version was indexed: drop the previous one."""
        ...

    def undo(self, name: str, put: Any) -> None:
        """The new version was refused by the loader: the previous one (or none) is the original again."""
        ...

    def abandon(self, name: str, put: Any) -> None:
        """The ingest failed part way (an exception): leave things as the index is most likely to need them."""
        ...

    def read(self, source: str, sha256: str) -> bytes | None:
        """The original of an indexed upload whose manifest records `sha256`; None if it is not an upload here."""
        ...

    def remove(self, source: str) -> None:
        """Forget the original of a removed document (nothing if it was not an upload)."""
        ...


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, read a megabyte at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class FolderOriginals:
    """Files in one folder of this machine (`data/uploads`): what a single `rag serve` has always done."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.staging = folder / ".staging"  # hidden: never walked by 'rag ingest'

    def source(self, name: str) -> str:
        return str((self.folder / name).resolve())

    def put(self, name: str, staged: Path) -> Path | None:
        """Swap the staged file into place; the previous version (if any) is kept aside until we know."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / name
        if target.resolve().parent != self.folder.resolve():  # safe_name makes this impossible; be sure
            raise ValueError(f"refusing to store an upload outside {self.folder}: {name!r}")
        backup = None
        if target.exists():
            self.staging.mkdir(parents=True, exist_ok=True)
            backup = self.staging / f"{uuid.uuid4().hex}.previous"
            os.replace(target, backup)
        os.replace(staged, target)
        return backup

    def keep(self, name: str, put: Path | None) -> None:
        if put is not None:
            put.unlink(missing_ok=True)

    def undo(self, name: str, put: Path | None) -> None:
        target = self.folder / name
        if put is not None:
            os.replace(put, target)
        else:
            target.unlink(missing_ok=True)

    abandon = undo  # as before: the folder goes back to what it held

    def _path(self, source: str) -> Path | None:
        path = Path(source)
        return path if path.parent == self.folder.resolve() and path.is_file() else None

    def read(self, source: str, sha256: str) -> bytes | None:
        path = self._path(source)
        if path is None:
            return None
        data = path.read_bytes()
        # Edited on disk since it was indexed: its spans would not match, so it is not the original any more.
        return data if hashlib.sha256(data).hexdigest() == sha256 else None

    def remove(self, source: str) -> None:
        path = self._path(source)
        if path is not None:
            path.unlink()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS originals (
    collection TEXT NOT NULL,
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    data BYTEA NOT NULL,
    stored_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (collection, source, sha256)
)
"""
MIGRATIONS = [(1, _SCHEMA)]


class PostgresOriginals:
    """Uploaded bytes in the shared database; every replica reads the same rows."""

    def __init__(self, url: str, collection: str) -> None:
        self.url = url
        self.collection = collection
        with self._connect() as conn:
            migrate_postgres(conn, "originals", MIGRATIONS)

    def _connect(self) -> Any:
        # A connection per call: uploads and downloads are rare, and nothing is held open across a restart
        # of the database.
        return connect(self.url)

    def source(self, name: str) -> str:
        # Not a path on any machine: the same document whichever replica took the upload.
        return f"uploads/{name}"

    def put(self, name: str, staged: Path) -> str:
        sha = file_sha256(staged)
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO originals (collection, source, sha256, data) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (self.collection, self.source(name), sha, staged.read_bytes()),
            )
        staged.unlink(missing_ok=True)
        return sha

    def keep(self, name: str, put: str) -> None:
        with self._connect() as conn:
            conn.execute(
                "DELETE FROM originals WHERE collection = %s AND source = %s AND sha256 <> %s",
                (self.collection, self.source(name), put),
            )

    def undo(self, name: str, put: str) -> None:
        # A refused file leaves the manifest as it was, and the manifest never records a refused file's hash
        # (the same bytes would have been "unchanged"), so this version is served by no one.
        with self._connect() as conn:
            conn.execute(
                "DELETE FROM originals WHERE collection = %s AND source = %s AND sha256 = %s",
                (self.collection, self.source(name), put),
            )

    def abandon(self, name: str, put: str) -> None:
        # The manifest may already record this version (files are recorded one by one as their chunks are
        # stored); deleting it could leave an indexed document without its original. Left alone it is served
        # only if the manifest records it, and dropped by the next `keep` of this name otherwise.
        pass

    def read(self, source: str, sha256: str) -> bytes | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT data FROM originals WHERE collection = %s AND source = %s AND sha256 = %s",
                (self.collection, source, sha256),
            ).fetchone()
        return bytes(row[0]) if row else None

    def remove(self, source: str) -> None:
        with self._connect() as conn:
            conn.execute("DELETE FROM originals WHERE collection = %s AND source = %s", (self.collection, source))
