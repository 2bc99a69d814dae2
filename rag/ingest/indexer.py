"""walk -> load -> chunk -> embed -> store, incremental.

Per file, the wanted chunk ids (content-derived) are compared with what Chroma and the keyword index hold:
only new ids are embedded, vanished ids are deleted, and the manifest records the file's hash last. A
kill at any point leaves a usable index; the next run finds the file's hash unrecorded and completes it
without re-embedding what was already stored.

Each document carries the groups that may read it (rag/access.py): a folder ingest takes them from the rules
file (RAG_ACCESS_FILE), an upload from its caller. They are on every chunk in Chroma and on the manifest's
record; when a rule changes, the next ingest rewrites them there without re-embedding anything.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm import tqdm

from rag.access import EVERYONE, AccessRules
from rag.config import Settings
from rag.index.embeddings import Embedder
from rag.index.keyword import KeywordStore
from rag.index.locking import IndexLock
from rag.index.originals import file_sha256
from rag.index.vectors import VectorStore, group_meta
from rag.ingest.chunking import Span, chunk_text
from rag.ingest.loaders import Document, LoadError, walk
from rag.ingest.sandbox import Reader
from rag.tokens import encoding

log = logging.getLogger(__name__)

Status = Literal["added", "updated", "unchanged", "skipped", "removed"]


@dataclass(frozen=True)
class FileResult:
    source: str
    status: Status
    reason: str = ""
    chunks: int = 0
    embedded: int = 0
    deleted: int = 0
    regrouped: bool = False  # who may read it changed (a rule, or the groups an upload was given)


@dataclass
class IngestReport:
    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def embedded(self) -> int:
        return sum(r.embedded for r in self.results)

    @property
    def skipped(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "skipped"]

    @property
    def regrouped(self) -> int:
        """Documents already indexed whose readers changed in this run."""
        return sum(1 for r in self.results if r.regrouped)

    def summary(self) -> str:
        parts = [f"{self.count(s)} {s}" for s in ("added", "updated", "unchanged", "removed", "skipped")]
        return (
            f"{', '.join(parts)}; {self.regrouped} changed readers; {self.embedded} chunks embedded "
            f"in {self.seconds:.1f}s"
        )


@dataclass(frozen=True)
class Indexed:
    """A file whose bytes the manifest held when it was read: `unchanged`, unless a writer changed the manifest
    since (a removal, another version) - `_plan` checks again under the writer lock, and reads it then."""

    path: Path
    source: str
    sha256: str


Read = Document | FileResult | Indexed


@dataclass(eq=False)  # identity-hashed: one plan per file
class _Plan:
    doc: Document
    ids: list[str]
    spans: list[Span]
    existing: set[str]
    keyword_ids: set[str]
    is_new: bool
    groups: tuple[str, ...]
    regrouped: bool
    pending: int = 0
    embedded: int = 0


def chunk_id(source: str, occurrence: int, text: str) -> str:
    return hashlib.sha256(f"{source}\x00{occurrence}\x00{text}".encode()).hexdigest()[:32]


class Ingestor:
    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        vectors: VectorStore,
        keywords: KeywordStore,
        lock: IndexLock,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.vectors = vectors
        self.keywords = keywords
        # One writer at a time: uploads, ingests and removals, in this process and any other on this index. The
        # lock is the storage's (a file beside SQLite, an advisory lock in PostgreSQL): never a default here.
        self.lock = lock
        self.enc = encoding(settings.tiktoken_encoding)
        self.reader = Reader(
            int(settings.max_file_mb * 1e6),
            int(settings.max_text_mb * 1e6),
            settings.max_parse_seconds,
            settings.max_parse_memory_mb,
        )

    # --- public -----------------------------------------------------------------------------------
    def ingest(
        self,
        paths: list[Path],
        prune: bool = False,
        progress: bool = False,
        preread: dict[str, Read] | None = None,
    ) -> IngestReport:
        """Index files and folders. `preread`: results of `read()` already taken, by resolved path. Each file gets
        the groups the rules file gives its path relative to the folder named (a file named itself: its name)."""
        started = time.perf_counter()
        report = IngestReport()
        rules = AccessRules.load(self.settings.access_file)
        files: list[Path] = []
        groups: dict[str, tuple[str, ...]] = {}
        for p in paths:
            if not p.exists():
                report.results.append(FileResult(str(p), "skipped", "no such file or directory"))
                continue
            for f in walk([p]):
                files.append(f)
                relative = f.relative_to(p).as_posix() if p.is_dir() else f.name
                groups[str(f.resolve())] = rules.groups_for(relative)
        # Files are read (the slow, risky part) before the writer lock is taken, so a costly file delays
        # this ingest only, not every other upload and removal.
        read: list[Read] = []
        for path in tqdm(files, desc="reading", unit="file", disable=not progress, leave=False):
            got = (preread or {}).get(str(path.resolve()))
            read.append(got if got is not None else self.read(path))
        with self.lock:
            report.results.extend(self.index(read, progress, groups))
            if prune:
                report.results.extend(self._prune(paths, {str(f.resolve()) for f in files}))
        report.seconds = time.perf_counter() - started
        log.info("ingest: %s", report.summary())
        return report

    def index(
        self, read: Sequence[Read], progress: bool = False, groups: Mapping[str, tuple[str, ...]] | None = None
    ) -> list[FileResult]:
        """Index documents already read (by `read()`), under the writer lock; one result per item. `groups`: who
        may read each, by source; a source not in it keeps its recorded groups (a new one: everyone)."""
        results: list[FileResult] = []
        with self.lock:
            plans = []
            for item in read:
                plan_or_result = self._plan(item, (groups or {}).get(item.source))
                if isinstance(plan_or_result, FileResult):
                    results.append(plan_or_result)
                    if plan_or_result.status == "skipped":
                        log.warning("skipped %s: %s", plan_or_result.source, plan_or_result.reason)
                else:
                    plans.append(plan_or_result)
            results.extend(self._embed_and_store(plans, progress))
        return results

    def read(self, path: Path, source: str | None = None) -> Read:
        """One file's Document, or why it is skipped; `Indexed`, without parsing, when its bytes are indexed."""
        source = source or str(path.resolve())
        try:
            record = self.keywords.record(source)
            if record is not None:
                sha = file_sha256(path)
                if record.sha256 == sha:
                    return Indexed(path, source, sha)
            return self.reader.read(path, source)
        except LoadError as e:
            return FileResult(source, "skipped", str(e))
        except OSError as e:
            return FileResult(source, "skipped", f"cannot read: {e.strerror or e}")
        except Exception as e:  # one bad file never ends the others' ingest
            log.exception("reading %s failed", source)
            return FileResult(source, "skipped", f"could not be read ({type(e).__name__}: {str(e)[:200]})")

    def settle(self, item: Read) -> Document | FileResult:
        """Under the writer lock: an `Indexed` file is `unchanged` if the manifest still holds its bytes; if a
        removal or another version came first, it is read now (rare, so the wait under the lock is too)."""
        if not isinstance(item, Indexed):
            return item
        with self.lock:
            record = self.keywords.record(item.source)
            if record is not None and record.sha256 == item.sha256:
                return FileResult(item.source, "unchanged", chunks=record.chunks)
            got = self.read(item.path, item.source)
        if isinstance(got, Indexed):  # the file changed too, to the version now indexed
            return FileResult(item.source, "unchanged", chunks=record.chunks if record else 0)
        return got

    def close(self) -> None:
        self.reader.close()
        self.lock.close()

    def remove(self, source: str) -> FileResult:
        with self.lock:
            ids = sorted(self.vectors.ids_for(source) | self.keywords.chunk_ids(source))
            if not ids and self.keywords.record(source) is None:
                raise KeyError(source)
            self.vectors.delete(ids)
            self.keywords.delete(ids)
            self.keywords.forget(source)
        return FileResult(source, "removed", deleted=len(ids))

    def chunk(self, doc: Document) -> list[Span]:
        if doc.page_labels:
            return self._chunk_pages(doc)
        return self._chunk_text(doc.text)

    def _chunk_text(self, text: str) -> list[Span]:
        return chunk_text(
            text,
            self.enc,
            self.settings.chunk_tokens,
            self.settings.chunk_overlap,
            self.embedder.count_tokens,
            self.embedder.max_tokens,
        )

    def _chunk_pages(self, doc: Document) -> list[Span]:
        # Slides and sheets are chunked apart, so that a citation's "slide 4" holds the whole passage.
        ends = [s - 2 for s in doc.page_starts[1:]] + [len(doc.text)]  # pages are joined by a blank line
        return [
            Span(start + s.start, start + s.end, s.text)
            for start, end in zip(doc.page_starts, ends, strict=True)
            for s in self._chunk_text(doc.text[start:end])
        ]

    def regroup(self, source: str, groups: tuple[str, ...]) -> bool:
        """Make an indexed document readable by exactly these groups: every chunk's metadata in Chroma, then the
        manifest (search's keyword side reads it), nothing re-embedded. False if it already was."""
        with self.lock:
            record = self.keywords.record(source)
            if record is None or set(record.groups) == set(groups):
                return False
            self.vectors.set_groups(sorted(self.vectors.ids_for(source)), groups)
            self.keywords.set_groups(source, groups)
        log.info("readers of %s changed: %s -> %s", source, _names(record.groups), _names(groups))
        return True

    # --- steps ------------------------------------------------------------------------------------
    def _plan(self, item: Read, groups: tuple[str, ...] | None = None) -> _Plan | FileResult:
        item = self.settle(item)
        if isinstance(item, FileResult):
            if item.status == "unchanged" and groups is not None:
                return replace(item, regrouped=self.regroup(item.source, groups))
            return item
        record = self.keywords.record(item.source)
        doc, source = item, item.source
        if groups is None:
            groups = record.groups if record is not None else (EVERYONE,)
        if record is not None and record.sha256 == doc.sha256:
            return FileResult(source, "unchanged", chunks=record.chunks, regrouped=self.regroup(source, groups))
        try:
            spans = self.chunk(doc)
        except Exception as e:  # one bad file never ends the others' ingest
            log.exception("chunking %s failed", source)
            return FileResult(source, "skipped", f"could not be split into chunks ({type(e).__name__}: {e})")
        seen: Counter[str] = Counter()
        ids = []
        for s in spans:
            ids.append(chunk_id(source, seen[s.text], s.text))
            seen[s.text] += 1
        # `existing` (what Chroma holds) is filled in for all files at once by _embed_and_store.
        regrouped = record is not None and set(record.groups) != set(groups)
        return _Plan(doc, ids, spans, set(), self.keywords.chunk_ids(source), record is None, groups, regrouped)

    def _meta(self, doc: Document, span: Span, groups: tuple[str, ...]) -> dict[str, Any]:
        line, page = doc.position(span.start)
        meta: dict[str, Any] = {
            "source": doc.source,
            "name": doc.name,
            "title": doc.title,
            "start": span.start,
            "end": span.end,
            "line": line,
            "doc_sha256": doc.sha256,
        }
        if page is not None:
            meta["page"] = page
        label = doc.page_label(span.start)
        if label:
            meta["page_label"] = label
        if doc.date:
            meta["date"] = doc.date
        return meta | group_meta(groups)

    def _embed_and_store(self, plans: list[_Plan], progress: bool) -> list[FileResult]:
        # Chunks from many small files are embedded together: batches sorted by length pad least.
        todo: list[tuple[_Plan, int]] = []
        stored = self.vectors.ids_by_source([p.doc.source for p in plans])
        for plan in plans:
            plan.existing = stored[plan.doc.source]
            for i, cid in enumerate(plan.ids):
                if cid not in plan.existing:
                    todo.append((plan, i))
                    plan.pending += 1
        # Shortest first across the whole run, so every step holds chunks of similar length and pads least
        # (the bare model's best case); a file is recorded as soon as its last chunk is stored.
        todo.sort(key=lambda item: len(item[0].spans[item[1]].text))
        results: list[FileResult] = []
        self._finish_all([p for p in plans if p.pending == 0], results)
        bar = tqdm(total=len(todo), desc="embedding", unit="chunk", disable=not progress)
        # Embed and store in steps of 32 batches: long enough that sorting by length pads little, short
        # enough that an interrupted ingest keeps most of what it embedded. Storing a step (Chroma, SQLite)
        # runs in a writer thread while the next step is embedded; both release the GIL.
        step = 32 * self.settings.embed_batch_size
        writing: Future[None] | None = None

        def store(batch: list[tuple[_Plan, int]], vectors: np.ndarray) -> None:
            self.vectors.upsert(
                [p.ids[i] for p, i in batch], vectors, [self._meta(p.doc, p.spans[i], p.groups) for p, i in batch]
            )
            by_plan: dict[_Plan, list[int]] = {}
            for p, i in batch:
                by_plan.setdefault(p, []).append(i)
                p.pending -= 1
                p.embedded += 1
            # The text goes to the keyword index in the same step, after Chroma: a vector found by search always
            # has its text, and the keyword index never holds a chunk Chroma lacks. One transaction per step.
            with self.keywords.transaction():
                for p, idx in by_plan.items():
                    self.keywords.add(p.doc.source, p.doc.title, [(p.ids[i], p.spans[i].text) for i in idx])
                self._finish_all([p for p in by_plan if p.pending == 0], results)
            bar.update(len(batch))

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer") as writer:
            try:
                for b in range(0, len(todo), step):
                    batch = todo[b : b + step]
                    vectors = self.embedder.embed([p.spans[i].text for p, i in batch])
                    if writing is not None:
                        writing.result()  # one step in flight: bounded memory, errors surface here
                    writing = writer.submit(store, batch, vectors)
            finally:
                # Also on Ctrl-C: let the step being written finish, so what was embedded is kept.
                if writing is not None:
                    writing.result()
        bar.close()
        return results

    def _finish_all(self, plans: list[_Plan], results: list[FileResult]) -> None:
        # One keyword transaction for all the files a step completes: one commit (and one FTS5 segment) per
        # step rather than three per file. A kill inside it records none of them; the next run completes them.
        with self.keywords.transaction():
            done = [self._finish(plan) for plan in plans]
        results.extend(done)

    def _finish(self, plan: _Plan) -> FileResult:
        """Make Chroma and the keyword index hold exactly this file's chunks, then record its hash."""
        doc = plan.doc
        wanted = set(plan.ids)
        kept = [i for i, cid in enumerate(plan.ids) if cid in plan.existing]
        # Unchanged text may have moved: refresh spans without re-embedding.
        kept_ids = [plan.ids[i] for i in kept]
        self.vectors.update_meta(kept_ids, [self._meta(doc, plan.spans[i], plan.groups) for i in kept])
        if plan.regrouped or plan.is_new:  # Chroma merges metadata: a group no longer given must be removed
            self.vectors.set_groups(kept_ids, plan.groups)
        stale = sorted(plan.existing - wanted)
        self.vectors.delete(stale)
        # Chunks embedded now were added as they were stored; those Chroma already held may lack their keyword
        # row (an interrupted run), and INSERT OR IGNORE leaves present ones alone.
        self.keywords.add(doc.source, doc.title, [(plan.ids[i], plan.spans[i].text) for i in kept])
        self.keywords.delete(sorted(plan.keyword_ids - wanted))
        self.keywords.put_record(
            doc.source, doc.sha256, doc.title, doc.date, len(plan.ids), doc.page_starts, plan.groups
        )
        status: Status = "added" if plan.is_new else "updated"
        log.info(
            "%s %s: %d chunks, %d embedded, %d deleted", status, doc.source, len(plan.ids), plan.embedded, len(stale)
        )
        return FileResult(
            doc.source,
            status,
            chunks=len(plan.ids),
            embedded=plan.embedded,
            deleted=len(stale),
            regrouped=plan.regrouped,
        )

    def _prune(self, roots: list[Path], present: set[str]) -> list[FileResult]:
        """Drop indexed documents under the given roots whose files are gone."""
        resolved = [r.resolve() for r in roots]
        out = []
        known = {r.source for r in self.keywords.records()} | self.keywords.sources_with_chunks()
        for source in sorted(known):
            p = Path(source)
            under = any(p == r or r in p.parents for r in resolved)
            if under and source not in present and not p.exists():
                out.append(self.remove(source))
                log.info("pruned %s", source)
        return out


def _names(groups: tuple[str, ...]) -> str:
    return ", ".join(groups) or "admins only"
