"""The one place a deployment's storage is chosen: files under the data dir on one machine, or, with
RAG_DATABASE_URL, PostgreSQL (keyword index, manifest, writer lock, originals, feedback, Slack's seen events)
and a Chroma server every replica reaches (RAG_CHROMA_URL).

Nothing else reads `settings.database_url`: each store is built here, or through `pick`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar

from rag.config import Settings
from rag.index.embeddings import Embedder
from rag.index.feedback import Feedback, FeedbackStore, PostgresFeedback, feedback_path
from rag.index.keyword import KeywordIndex, KeywordStore
from rag.index.locking import AdvisoryLock, IndexLock, WriterLock
from rag.index.originals import FolderOriginals, Originals, PostgresOriginals
from rag.index.vectors import StoreUnavailable, VectorStore, make_chroma_client

T = TypeVar("T")


def pick(settings: Settings, local: Callable[[], T], shared: Callable[[str], T]) -> T:
    """`local()` on one machine, `shared(database_url)` when the deployment shares a PostgreSQL database."""
    return shared(settings.database_url) if settings.database_url else local()


def where(settings: Settings) -> str:
    """Where the shared state lives, for messages: the data dir, or the database (without its credentials)."""
    from rag.index.database import describe

    return pick(settings, lambda: str(settings.data_dir), lambda url: f"the shared database ({describe(url)})")


@dataclass
class Index:
    """The searchable index: vectors, the keyword side with the document manifest, and the writer lock."""

    vectors: VectorStore
    keywords: KeywordStore
    lock: IndexLock


def open_index(settings: Settings, embedder: Embedder, chroma_client: Any = None) -> Index:
    """The index of this deployment, its schema migrated. `chroma_client` overrides the vector store's client
    (`rag eval` keeps its own index's vectors on disk even on the shared backend)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return pick(
        settings,
        local=lambda: _embedded(settings, embedder, chroma_client),
        shared=lambda url: _shared(settings, url, embedder, chroma_client),
    )


def make_feedback(settings: Settings) -> Feedback:
    """Answers remembered for votes, and the votes."""

    def shared(url: str) -> Feedback:
        return PostgresFeedback(url, settings.collection)

    return pick(settings, lambda: FeedbackStore(feedback_path(settings.data_dir)), shared)


def make_originals(settings: Settings) -> Originals:
    """Uploaded files, as uploaded."""

    def shared(url: str) -> Originals:
        return PostgresOriginals(url, settings.collection)

    return pick(settings, lambda: FolderOriginals(settings.uploads_dir), shared)


def _embedded(settings: Settings, embedder: Embedder, chroma_client: Any) -> Index:
    """Everything under the data dir: Chroma's files, the SQLite keyword index, a file lock."""
    lock = WriterLock.for_index(settings.data_dir, settings.collection)
    # The keyword index follows the collection so that two collections never share one.
    keyword_path = settings.data_dir / f"keyword-{settings.collection}.sqlite"
    # A new index is created under the writer lock: two processes starting on an empty data dir at once would
    # race to create the same SQLite files, and one would fail with "database is locked". An existing index
    # is opened without it, so that a question never waits for someone else's ingest.
    with lock if not keyword_path.exists() else nullcontext():
        vectors = VectorStore(chroma_client or make_chroma_client(settings), settings.collection, embedder.name)
        keywords = KeywordIndex(keyword_path)
    return Index(vectors, keywords, lock)


def _shared(settings: Settings, url: str, embedder: Embedder, chroma_client: Any) -> Index:
    """Keyword index, manifest and writer lock in PostgreSQL; vectors in the Chroma server."""
    from rag.index.postgres import PgKeywordIndex

    # Refused rather than warned about: replicas that share the manifest but each keep vectors on their own
    # disk go wrong silently (one replica records a file as indexed; the others then never embed it, and
    # their vector search misses it). A caller that means a private vector store (`rag eval`'s own index)
    # passes its Chroma client explicitly.
    if not settings.chroma_url and chroma_client is None:
        raise StoreUnavailable(
            "RAG_DATABASE_URL is set but RAG_CHROMA_URL is not: with the keyword index in PostgreSQL the vectors "
            "must be shared too; set RAG_CHROMA_URL to a Chroma server every replica reaches "
            "(e.g. http://chroma-host:8000, started with 'chroma run'), or unset RAG_DATABASE_URL"
        )
    vectors = VectorStore(chroma_client or make_chroma_client(settings), settings.collection, embedder.name)
    return Index(vectors, PgKeywordIndex(url, settings.collection), AdvisoryLock(url, settings.collection))
