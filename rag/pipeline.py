"""Build the whole pipeline once from Settings; everything else receives the parts it needs."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.answering.answerer import Answerer, AnswerOptions
from rag.answering.claims import ClaimOptions
from rag.answering.prompts import DEFAULT_DIR, Prompts
from rag.config import Settings
from rag.index.embeddings import Embedder, make_embedder
from rag.index.keyword import KeywordIndex, KeywordStore
from rag.index.locking import AdvisoryLock, IndexLock, WriterLock
from rag.index.originals import Originals, make_originals
from rag.index.vectors import StoreUnavailable, VectorStore, make_chroma_client
from rag.ingest.indexer import Ingestor
from rag.llm.client import LLM, make_llm
from rag.retrieval.rerank import make_reranker
from rag.retrieval.retriever import Retriever


@dataclass
class Pipeline:
    settings: Settings
    embedder: Embedder
    vectors: VectorStore
    keywords: KeywordStore
    llm: LLM
    ingestor: Ingestor
    retriever: Retriever
    answerer: Answerer
    originals: Originals

    def close(self) -> None:
        self.ingestor.close()
        self.keywords.close()
        if self.retriever.reranker is not None:
            self.retriever.reranker.close()


def build(
    settings: Settings,
    embedder: Embedder | None = None,
    chroma_client: Any = None,
    llm: LLM | None = None,
    prompts_dir: Path | None = None,
) -> Pipeline:
    llm = llm or make_llm(settings)
    embedder = embedder or make_embedder(settings, llm.client if settings.embedding_backend == "openai" else None)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.database_url:
        vectors, keywords, lock = _shared_storage(settings, embedder, chroma_client)
    else:
        vectors, keywords, lock = _embedded_storage(settings, embedder, chroma_client)
    ingestor = Ingestor(settings, embedder, vectors, keywords, lock)
    retriever = Retriever(settings, embedder, vectors, keywords, make_reranker(settings))
    options = AnswerOptions(
        schema=settings.answer_schema,
        entailment=settings.answer_entailment,
        names=settings.answer_names_check,
        min_lexical=settings.answer_min_lexical,
        retry_refusals=settings.answer_retry_refusals,
        evidence=settings.answer_evidence,
        sentences=settings.answer_sentences,
        max_claims=settings.answer_max_claims,
        claim=ClaimOptions(
            realign=settings.answer_realign,
            posthoc=settings.answer_posthoc,
            names=settings.answer_names_check,
            min_lexical=settings.answer_min_lexical,
            entailment=settings.answer_entailment,
            min_support=settings.answer_min_support,
            skip_span=settings.answer_skip_span,
        ),
    )
    answerer = Answerer(retriever, llm, Prompts.load(prompts_dir or settings.prompts_dir or DEFAULT_DIR), options)
    return Pipeline(settings, embedder, vectors, keywords, llm, ingestor, retriever, answerer, make_originals(settings))


def _embedded_storage(
    settings: Settings, embedder: Embedder, chroma_client: Any
) -> tuple[VectorStore, KeywordStore, IndexLock]:
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
    return vectors, keywords, lock


def _shared_storage(
    settings: Settings, embedder: Embedder, chroma_client: Any
) -> tuple[VectorStore, KeywordStore, IndexLock]:
    """Keyword index, manifest and writer lock in PostgreSQL; vectors in the Chroma server."""
    from rag.index.postgres import PgKeywordIndex

    assert settings.database_url
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
    keywords = PgKeywordIndex(settings.database_url, settings.collection)
    return vectors, keywords, AdvisoryLock(settings.database_url, settings.collection)
