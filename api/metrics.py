"""GET /metrics in Prometheus text format: HTTP requests (prometheus-fastapi-instrumentator) and the
pipeline's own counters and histograms, read from the answers and ingest results the routes already hold.

Each app has a registry of its own, so that several apps in one process (the tests) never share counts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import Instrumentator

from api.generation import reader_of
from rag.access import Reader
from rag.answering.answerer import Answer
from rag.ingest.uploads import UploadResult
from rag.llm.client import LLMError
from rag.pipeline import Pipeline

log = logging.getLogger("api")

# Seconds, as Prometheus names time; retrieval is milliseconds, generation seconds to minutes.
RETRIEVAL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
GENERATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0)


def outcome(answer: Answer) -> str:
    """answered | no_passages (nothing cleared the relevance floor, no LLM call) | refused (the model said the
    documents do not answer) | withheld (the model answered, but no sentence was supported by a passage)."""
    if not answer.refused:
        return "answered"
    if not answer.passages:
        return "no_passages"
    # The answer step records why it withheld an answer in `checks`; a model's own refusal has no such entry.
    return "withheld" if answer.checks.get("withheld") else "refused"


def llm_cause(error: LLMError) -> str:
    """A short label for LLMError.cause, whose text carries details (addresses, exception text) a label must not."""
    cause = error.cause
    for prefix, label in (
        ("timed out", "timeout"),
        ("unreachable", "unreachable"),
        ("rejected the API key", "auth"),
        ("model not found", "model_not_found"),
    ):
        if cause.startswith(prefix):
            return label
    if cause.startswith("HTTP "):
        return "http_" + cause.split()[1]
    return "other"


class _IndexSize(Collector):
    """The index's documents and chunks, read at scrape time, so that `rag ingest` from a terminal shows too; to a
    key that does not read every document, only those it may read (a count is something to leak too)."""

    def __init__(self, pipeline: Pipeline, reader: Reader) -> None:
        self.pipeline = pipeline
        self.reader = reader

    def collect(self) -> Iterator[Metric]:
        try:
            if self.reader.reads_all:
                chunks = self.pipeline.keywords.count()
                documents = len(self.pipeline.keywords.records())
            else:
                readable = [r for r in self.pipeline.keywords.records() if self.reader.may_read(r.groups)]
                documents, chunks = len(readable), sum(r.chunks for r in readable)
        except Exception as e:  # noqa: BLE001 - a scrape must not fail because the index is busy or gone
            log.warning("metrics: could not read the index size: %s", e)
            return
        yield GaugeMetricFamily("seedrag_index_documents", "Documents in the index.", value=documents)
        yield GaugeMetricFamily("seedrag_index_chunks", "Chunks (passages) in the index.", value=chunks)


class Metrics:
    def __init__(self, pipeline: Pipeline) -> None:
        self.registry = r = CollectorRegistry()
        self.retrieval = Histogram(
            "seedrag_retrieval_seconds", "Retrieval time per question.", buckets=RETRIEVAL_BUCKETS, registry=r
        )
        self.generation = Histogram(
            "seedrag_generation_seconds",
            "LLM generation time per answered question.",
            buckets=GENERATION_BUCKETS,
            registry=r,
        )
        self.answers = Counter(
            "seedrag_answers", "Questions answered, by outcome: answered, no_passages, refused, withheld.",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.removed = Counter(
            "seedrag_removed_citations",
            "Citation markers removed from answers by the check, by reason (invented, unsupported).",
            ["reason"],
            registry=r,
        )
        self.added = Counter(
            "seedrag_added_citations", "Citations the check added to sentences the model left uncited.", registry=r
        )
        self.llm_errors = Counter("seedrag_llm_errors", "Failed LLM calls, by cause.", ["cause"], registry=r)
        self.ingested = Counter(
            "seedrag_ingest_documents",
            "Files ingested through the API, by result (added, updated, unchanged, removed, skipped).",
            ["status"],
            registry=r,
        )
        self.embedded = Counter("seedrag_ingest_chunks", "Chunks embedded and stored through the API.", registry=r)
        self.pipeline = pipeline

    def scrape(self, reader: Reader) -> bytes:
        """The Prometheus text: every counter (their labels are outcomes, reasons, causes and route templates,
        never a document), then the index size as this reader may know it."""
        sizes = CollectorRegistry()
        sizes.register(_IndexSize(self.pipeline, reader))
        return generate_latest(self.registry) + generate_latest(sizes)

    def answered(self, answer: Answer) -> None:
        self.retrieval.observe(answer.retrieval_ms / 1000)
        if answer.generation_ms:
            self.generation.observe(answer.generation_ms / 1000)
        self.answers.labels(outcome(answer)).inc()
        for reason, numbers in answer.removed_citations.items():
            if reason == "added":
                self.added.inc(len(numbers))
            elif numbers:
                self.removed.labels(reason).inc(len(numbers))

    def failed(self, error: LLMError, retrieval_ms: float | None = None) -> None:
        if retrieval_ms is not None:
            self.retrieval.observe(retrieval_ms / 1000)
        self.llm_errors.labels(llm_cause(error)).inc()

    def ingested_files(self, results: Iterable[UploadResult]) -> None:
        for result in results:
            self.ingested.labels(result.status).inc()
            self.embedded.inc(result.embedded)


def install(app: FastAPI, pipeline: Pipeline) -> Metrics:
    """Count every request and serve GET /metrics, behind the API keys when they are set (api/access.py)."""
    metrics = Metrics(pipeline)
    app.state.metrics = metrics
    Instrumentator(registry=metrics.registry, excluded_handlers=["/metrics"]).instrument(app)

    @app.get(
        "/metrics",
        tags=["metrics"],
        # Documented as what it is (Prometheus text), so the OpenAPI schema and schema fuzzing agree.
        response_class=PlainTextResponse,
        summary="Prometheus metrics: requests, latencies, retrieval and generation time, refusals, errors, ingest",
    )
    def scrape(request: Request) -> Response:
        return Response(metrics.scrape(reader_of(request)), media_type=CONTENT_TYPE_LATEST)

    return metrics


def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics  # type: ignore[no-any-return]
