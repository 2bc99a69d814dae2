"""Files sent over the API: staged, read, then stored with safe names in the originals store and indexed.

A file replaces the stored file of the same name (a new version of a document keeps its identity). Storing
the original and the ingest happen under the ingestor's lock, and a file the loader rejects puts the previous
version back, so the originals and the index always agree. Where originals live (a local folder, or the
shared database) is rag/index/originals.py's concern.

Who may read an upload is the caller's to say (`groups`, from an admin key); without it, the rules file
(RAG_ACCESS_FILE) decides by the stored name, as for a file at the top of an ingested folder.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from rag.access import AccessRules
from rag.index.originals import Originals
from rag.ingest.indexer import FileResult, Ingestor, Read
from rag.ingest.loaders import SUPPORTED

_UNSAFE = re.compile(r'[<>:"|?*\x00-\x1f\x7f]')
_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
MAX_NAME_BYTES = 200


def safe_name(filename: str) -> str:
    """A file name that stays inside the uploads folder: no directories, no '..', no control, format (bidi)
    or unassigned characters, not hidden, at most MAX_NAME_BYTES bytes (the extension is kept)."""
    name = unicodedata.normalize("NFC", filename.replace("\\", "/").rsplit("/", 1)[-1])
    # Invisible characters that change how a name reads: bidi overrides ("\u202etxt.md" shows as "dm.txt"),
    # zero-width joiners, line and paragraph separators. A name must look like what it is.
    name = "".join("_" if unicodedata.category(c) in _INVISIBLE else c for c in name)
    name = _UNSAFE.sub("_", name).strip().lstrip(".").strip()
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    while len(name.encode()) > MAX_NAME_BYTES and stem:
        stem = stem[:-1]
        name = f"{stem}.{suffix}" if suffix else stem
    return name or "upload"


@dataclass(frozen=True)
class Upload:
    filename: str  # as the client sent it
    name: str  # safe_name(filename)
    staged: Path | None  # its bytes, waiting to be ingested; None when it was refused before storing


@dataclass(frozen=True)
class UploadResult:
    filename: str
    name: str
    source: str
    status: str  # added | updated | unchanged | skipped
    reason: str = ""
    chunks: int = 0
    embedded: int = 0


@dataclass
class Prepared:
    """Uploads staged and read, waiting to be committed."""

    uploads: list[Upload]
    results: dict[int, UploadResult]  # decided already (unsupported, duplicate name)
    chosen: dict[str, int]  # stored name -> index of the upload stored under it
    preread: dict[str, Read]
    groups: tuple[str, ...] | None = None  # who may read them; None: as the rules file says


class Uploads:
    def __init__(self, originals: Originals, ingestor: Ingestor, staging: Path) -> None:
        self.originals = originals
        self.ingestor = ingestor
        # This machine's own scratch space (data/uploads/.staging: hidden, never walked by 'rag ingest').
        self.staging = staging

    def add(self, files: list[tuple[str, BinaryIO]], groups: tuple[str, ...] | None = None) -> list[UploadResult]:
        """Store and ingest (filename, bytes) pairs; one result per file, in order. `groups`: who may read them
        (None: the rules file's groups for each name, everyone without one)."""
        prepared = self.prepare(files, groups)
        try:
            return self.commit(prepared)
        finally:
            self.discard(prepared)

    def prepare(self, files: list[tuple[str, BinaryIO]], groups: tuple[str, ...] | None = None) -> Prepared:
        """Stage and read the files, without the writer lock; `commit()` then stores them, `discard()` cleans up."""
        uploads: list[Upload] = []
        try:
            for filename, data in files:
                uploads.append(self.stage(filename, data))
            return replace(self._read(uploads), groups=groups)
        except BaseException:
            for up in uploads:
                self._discard(up.staged)
            raise

    def stage(self, filename: str, data: BinaryIO) -> Upload:
        """Copy one upload's bytes to the staging folder (unsupported types are not stored at all)."""
        name = safe_name(filename)
        if Path(name).suffix.lower() not in SUPPORTED:
            return Upload(filename, name, None)
        self.staging.mkdir(parents=True, exist_ok=True)
        staged = self.staging / uuid.uuid4().hex
        with staged.open("wb") as out:
            shutil.copyfileobj(data, out, 1 << 20)
        return Upload(filename, name, staged)

    def ingest(self, uploads: list[Upload], groups: tuple[str, ...] | None = None) -> list[UploadResult]:
        """Move staged files into place and ingest them, one result per upload, in order."""
        prepared = Prepared(uploads, {}, {}, {})
        try:
            prepared = replace(self._read(uploads), groups=groups)
            return self.commit(prepared)
        finally:
            self.discard(prepared)

    def discard(self, prepared: Prepared) -> None:
        for up in prepared.uploads:  # whatever went wrong, leave nothing behind in the staging folder
            self._discard(up.staged)

    def _read(self, uploads: list[Upload]) -> Prepared:
        results: dict[int, UploadResult] = {}
        chosen: dict[str, int] = {}  # name -> index of the upload that will be stored under it
        for i, up in enumerate(uploads):
            if up.staged is None:
                suffix = Path(up.name).suffix or up.name
                reason = f"unsupported type '{suffix}' (supported: {', '.join(sorted(SUPPORTED))})"
                results[i] = UploadResult(up.filename, up.name, "", "skipped", reason)
                continue
            if up.name in chosen:
                earlier = chosen[up.name]
                results[earlier] = UploadResult(
                    uploads[earlier].filename, up.name, "", "skipped", "a later file in this upload has the same name"
                )
                self._discard(uploads[earlier].staged)
            chosen[up.name] = i
        # Read (parse) the staged bytes before the writer lock is taken: a slow file must not hold up others.
        preread: dict[str, Read] = {}
        for name, i in chosen.items():
            staged = uploads[i].staged
            assert staged is not None
            source = self.originals.source(name)
            preread[source] = self.ingestor.read(staged, source)
        return Prepared(uploads, results, chosen, preread)

    def commit(self, prepared: Prepared) -> list[UploadResult]:
        """Store the read files as the originals and index them, under the writer lock; one result per upload."""
        uploads, results, chosen, preread = prepared.uploads, prepared.results, prepared.chosen, prepared.preread
        with self.ingestor.lock:
            stored: dict[str, object] = {}
            # Settled before the staged bytes move: a file found unchanged before the lock may have been
            # removed or replaced since, and is then read again from its staged copy.
            settled = [self.ingestor.settle(preread[self.originals.source(name)]) for name in chosen]
            try:
                for name, i in chosen.items():
                    staged = uploads[i].staged
                    assert staged is not None
                    stored[name] = self.originals.put(name, staged)
                indexed = self.ingestor.index(settled, groups=self._groups(prepared))
            except BaseException:
                for name, put in stored.items():
                    self.originals.abandon(name, put)
                raise
            by_source = {r.source: r for r in indexed}
            for name, i in chosen.items():
                source = self.originals.source(name)
                r = by_source.get(source, FileResult(source, "skipped", "not ingested"))
                if r.status == "skipped":
                    self.originals.undo(name, stored[name])
                    results[i] = UploadResult(uploads[i].filename, name, "", "skipped", r.reason)
                else:
                    self.originals.keep(name, stored[name])
                    results[i] = UploadResult(
                        uploads[i].filename, name, r.source, r.status, r.reason, r.chunks, r.embedded
                    )
        return [results[i] for i in range(len(uploads))]

    def remove(self, source: str) -> FileResult:
        """Drop a document from the index; if it was uploaded, delete its stored original too."""
        with self.ingestor.lock:
            result = self.ingestor.remove(source)
            self.originals.remove(source)
        return result

    # --- steps ------------------------------------------------------------------------------------
    def _groups(self, prepared: Prepared) -> dict[str, tuple[str, ...]]:
        """Who may read each stored upload, by source: the caller's groups, or the rules file's for its name."""
        if prepared.groups is not None:
            return {self.originals.source(name): prepared.groups for name in prepared.chosen}
        rules = AccessRules.load(self.ingestor.settings.access_file)
        return {self.originals.source(name): rules.groups_for(name) for name in prepared.chosen}

    @staticmethod
    def _discard(path: Path | None) -> None:
        if path is not None:
            path.unlink(missing_ok=True)
