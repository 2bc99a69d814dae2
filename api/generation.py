"""The answer service as HTTP sees it: the service of the app, who asks, and its refusals as HTTP errors.

The life of an answer (gate, limits, metrics, memory, cancellation) is rag/service.py's; this module only
says it in HTTP: a full server is a 503 with `Retry-After`, a question over the limits a 413 or 422, an
LLM failure a 502/503/504 with the passages, an asker gone a 499 in the request log.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from api.errors import APIError, error_body
from api.public import PublicJSONResponse
from rag.access import Reader
from rag.answering.answerer import AnswerFailed, citation_dict
from rag.service import Abandoned, AnswerService, AnswerStream, Asker, Busy, Rejected

# The chat page names itself in this header, so that `rag feedback` can tell its votes from API clients'.
CLIENT_HEADER = "x-seedrag-client"


def service_of(request: Request) -> AnswerService:
    return request.app.state.answers  # type: ignore[no-any-return]


def reader_of(request: Request) -> Reader:
    """The reader this request acts for, as api/access.py resolved it from the Authorization header."""
    reader = getattr(request.state, "reader", None)
    if reader is None:  # a route that answers without a key (none of those that search): public documents only
        return Reader.public()
    return reader  # type: ignore[no-any-return]


def who(request: Request) -> str:
    """Who is calling, as far as the server knows: `user:<name>` for a key of RAG_KEYS_FILE; a RAG_API_KEYS key
    named by a hash keyed with the feedback store's secret salt (it tells keys apart in `rag feedback`, and no one
    can test a guessed key against it); without keys, 'anonymous'. The salt is read from the store once (a
    database read, on first use). Answers are remembered under this name, and only it may vote on them."""
    state = request.app.state
    caller = getattr(request.state, "caller", None)
    if caller is not None and caller.named:
        return "user:" + caller.reader.user
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if caller is None or scheme.lower() != "bearer" or not token.strip():
        return "anonymous"
    if getattr(state, "voter_salt", None) is None:
        state.voter_salt = service_of(request).feedback.salt()
    return "key:" + hmac.new(state.voter_salt, token.strip().encode(), hashlib.sha256).hexdigest()[:12]


def voter(request: Request, user: str | None) -> str:
    """A vote's owner: the caller, then the name it gives (a browser's id, a person behind a shared key) under
    it. A name alone never owns a vote, or any key could replace anyone's vote by sending their name."""
    caller = who(request)
    name = (user or "").strip()
    return f"{caller}/{name}" if name else caller


def asker(request: Request, surface: str = "api", instructions: str = "") -> Asker:
    if surface == "api" and request.headers.get(CLIENT_HEADER) == "page":
        surface = "page"
    return Asker(surface, who(request), instructions=instructions, reader=reader_of(request))


def disconnected(request: Request) -> Any:
    """A waiter that returns when the client hangs up (for AnswerService.ask's `until`)."""

    async def wait() -> None:
        # The body was read already, so the next message the server has for us is the disconnect.
        while (await request.receive())["type"] != "http.disconnect":
            pass

    return wait


def llm_failure(e: AnswerFailed) -> APIError:
    status = 504 if e.error.cause == "timed out" else 503 if e.error.cause.startswith("unreachable") else 502
    return APIError(
        status,
        "llm_unavailable",
        str(e),
        passages=[citation_dict(i, p) for i, p in enumerate(e.passages, 1)],
        retrieval_ms=round(e.retrieval_ms, 1),
    )


def install(app: FastAPI) -> None:
    """The service's refusals as HTTP errors, wherever a route lets them rise."""

    @app.exception_handler(Busy)
    async def _busy(request: Request, exc: Busy) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)}
        return PublicJSONResponse(error_body("overloaded", str(exc)), 503, headers=headers)

    @app.exception_handler(Rejected)
    async def _rejected(request: Request, exc: Rejected) -> JSONResponse:
        status, kind = (413, "too_large") if exc.kind == "too_large" else (422, "invalid_request")
        return PublicJSONResponse(error_body(kind, str(exc)), status)

    @app.exception_handler(Abandoned)
    async def _abandoned(request: Request, exc: Abandoned) -> JSONResponse:
        # 499, nginx's "client closed request": nobody reads it, but the request log says what happened.
        message = "the client closed the connection before the answer was ready"
        return PublicJSONResponse(error_body("client_closed", message), 499)

    @app.exception_handler(AnswerFailed)
    async def _failed(request: Request, exc: AnswerFailed) -> JSONResponse:
        err = llm_failure(exc)
        return PublicJSONResponse(error_body(err.type, err.message, **err.extra), err.status)


class GatedStream(StreamingResponse):
    """A streamed answer that closes its AnswerStream (stopping it, giving its slot back) however it ends."""

    def __init__(self, stream: AnswerStream, content: Any, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.stream.close()
