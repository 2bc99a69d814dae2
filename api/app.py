"""The FastAPI app factory. Transport only: every answer comes from the pipeline in rag/."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from api import errors
from api.routes import ask, health, page
from rag.config import Settings
from rag.pipeline import Pipeline, build

log = logging.getLogger("api")


def create_app(settings: Settings | None = None, pipeline: Pipeline | None = None) -> FastAPI:
    settings = settings or Settings()
    pipeline = pipeline or build(settings)
    app = FastAPI(
        title="seedrag",
        version="0.1.0",
        description="Answers questions from your own documents, with citations you can check.",
    )
    app.state.settings = settings
    app.state.pipeline = pipeline
    errors.install(app)

    @app.middleware("http")
    async def log_request(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        t0 = time.perf_counter()
        response = await call_next(request)
        timings = getattr(request.state, "timings", {})
        extra = "".join(f" {k}={v:.0f}" for k, v in timings.items() if k != "total_ms")
        # Path only: query strings and headers can carry secrets.
        log.info(
            "%s %s %d total_ms=%.0f%s",
            request.method,
            request.url.path,
            response.status_code,
            (time.perf_counter() - t0) * 1000,
            extra,
        )
        return response

    app.include_router(health.router)
    app.include_router(ask.router)
    app.include_router(page.router)  # the chat page at / and its files under /static/

    # Slack: on only with both secrets; otherwise say so once at start-up (api/routes/slack.py, docs/slack.md).
    from api.routes import feedback, slack

    app.include_router(feedback.router)
    if settings.slack_bot_token and settings.slack_signing_secret:
        slack.mount(app, settings, pipeline)
    else:
        log.info("Slack is off: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to answer in Slack at /slack/events")
    return app
