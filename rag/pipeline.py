"""Build the whole pipeline once from Settings; everything else receives the parts it needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.answering.answerer import Answerer, AnswerOptions
from rag.answering.claims import ClaimOptions
from rag.answering.prompts import DEFAULT_DIR, Prompts
from rag.config import Settings
from rag.index.embeddings import Embedder, make_embedder
from rag.index.keyword import KeywordStore
from rag.index.originals import Originals
from rag.index.storage import make_originals, open_index
from rag.index.vectors import VectorStore
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
    index = open_index(settings, embedder, chroma_client)
    vectors, keywords = index.vectors, index.keywords
    ingestor = Ingestor(settings, embedder, vectors, keywords, index.lock)
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
