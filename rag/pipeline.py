"""Build the whole pipeline once from Settings; everything else receives the parts it needs."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.answer import Answerer, AnswerOptions
from rag.config import Settings
from rag.embeddings import Embedder, make_embedder
from rag.ingest import Ingestor
from rag.keyword import KeywordIndex
from rag.llm import LLM, make_llm
from rag.locking import WriterLock
from rag.originals import Originals, make_originals
from rag.prompts import DEFAULT_DIR, Prompts
from rag.rerank import make_reranker
from rag.retrieve import Retriever
from rag.store import VectorStore, make_chroma_client


@dataclass
class Pipeline:
    settings: Settings
    embedder: Embedder
    vectors: VectorStore
    keywords: KeywordIndex
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
    lock = WriterLock.for_index(settings.data_dir, settings.collection)
    # The keyword index follows the collection so that two collections never share one.
    keyword_path = settings.data_dir / f"keyword-{settings.collection}.sqlite"
    # A new index is created under the writer lock: two processes starting on an empty data dir at once would
    # race to create the same SQLite files, and one would fail with "database is locked". An existing index
    # is opened without it, so that a question never waits for someone else's ingest.
    with lock if not keyword_path.exists() else nullcontext():
        vectors = VectorStore(chroma_client or make_chroma_client(settings), settings.collection, embedder.name)
        keywords = KeywordIndex(keyword_path)
    ingestor = Ingestor(settings, embedder, vectors, keywords, lock)
    retriever = Retriever(settings, embedder, vectors, keywords, make_reranker(settings))
    options = AnswerOptions(
        schema=settings.answer_schema,
        entailment=settings.answer_entailment,
        names=settings.answer_names_check,
        min_lexical=settings.answer_min_lexical,
        retry_refusals=settings.answer_retry_refusals,
    )
    answerer = Answerer(retriever, llm, Prompts.load(prompts_dir or settings.prompts_dir or DEFAULT_DIR), options)
    return Pipeline(settings, embedder, vectors, keywords, llm, ingestor, retriever, answerer, make_originals(settings))
