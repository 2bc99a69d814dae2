"""The FastAPI app factory. Transport only: every answer comes from the pipeline in rag/."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from api import errors, generation, metrics
from api.access import Access
from api.keys import Keys
from api.middleware import BodyLimit, RequestLog, SecurityHeaders
from api.public import PublicJSONResponse
from api.routes import ask, chat_completions, documents, health, page
from rag.config import Settings
from rag.pipeline import Pipeline, build
from rag.service import AnswerService

log = logging.getLogger("api")


def create_app(settings: Settings | None = None, pipeline: Pipeline | None = None) -> FastAPI:
    settings = settings or Settings()
    pipeline = pipeline or build(settings)
    app = FastAPI(
        default_response_class=PublicJSONResponse,
        title="seedrag",
        version="0.1.0",
        description="Answers questions from your own documents, with citations you can check. "
        "When the server has API keys, every /v1/* call needs `Authorization: Bearer <key>`: a read-only key "
        "(RAG_API_KEYS) may ask and list, an admin key (RAG_ADMIN_KEYS) may also upload, delete and read feedback. "
        "A key of RAG_KEYS_FILE names a user and the groups whose documents it reads: every answer, citation, "
        "listing and download is drawn from those documents only (others are 404, as if missing). "
        "Without keys the server answers loopback names only and refuses changes posted by other web sites. "
        "When RAG_MAX_GENERATIONS answers are being written and RAG_MAX_QUEUED wait, answering endpoints give "
        "503 with `Retry-After`. "
        'Errors are JSON: `{"error": {"type", "message"}}`.',
    )
    app.state.settings = settings
    app.state.pipeline = pipeline
    errors.install(app)
    generation.install(app)

    # Uploads may be large; every other body is a question and its history.
    upload_limit = int(settings.max_upload_mb * 1_000_000)
    app.add_middleware(BodyLimit, default=settings.max_request_kb * 1024, per_path={"/v1/documents": upload_limit})
    counts = metrics.install(app, pipeline)  # GET /metrics, and a count and latency of every request
    # Every surface of this app (HTTP, OpenAI-compatible, Slack) answers through this one service and its gate.
    app.state.answers = service = AnswerService(settings, pipeline.answerer, observer=counts)
    # Who may call, and the reader each request acts for (RAG_KEYS_FILE, RAG_API_KEYS): read once, here.
    keys = Keys.load(settings)
    app.add_middleware(Access, settings=settings, keys=keys)  # outside BodyLimit: who may send a body is decided first
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestLog)  # added last = outermost: it also logs the 413s, 401s and 403s

    app.include_router(health.router)
    app.include_router(ask.router)
    app.include_router(chat_completions.router)
    app.include_router(documents.router)
    app.include_router(page.router)  # the chat page at / and its files under /static/

    # Slack: on only with both secrets; otherwise say so once at start-up (api/slack/events.py, docs/slack/README.md).
    from api.routes import feedback
    from api.slack import events as slack

    app.include_router(feedback.router)
    if settings.slack_bot_token and settings.slack_signing_secret:
        slack.mount(app, settings, service, keys)
    else:
        log.info("Slack is off: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to answer in Slack at /slack/events")
    return app
