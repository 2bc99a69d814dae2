"""ASGI middleware: request body limits, security headers on every response, and one log line per request.

Pure ASGI rather than `@app.middleware("http")`: that one returns as soon as the headers are out, so a
streamed answer would be logged before its generation time is known, and it buffers exceptions oddly.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body

log = logging.getLogger("api")


def too_large_message(limit: int) -> str:
    return (
        f"the request body is larger than the limit of {limit / 1e6:.2f} MB; send less (uploads: fewer or "
        "smaller files), or raise RAG_MAX_UPLOAD_MB (uploads) / RAG_MAX_REQUEST_KB (other calls)"
    )


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a body without Content-Length passes the limit; the app's error handler
    turns it into the usual JSON error. (FastAPI's HTTPException: its body parser re-raises that one.)"""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit), headers={"Connection": "close"})


class BodyLimit:
    """413 for bodies over the limit: at once when Content-Length says so, otherwise counted as the bytes
    arrive (chunked uploads), so nothing larger is ever read into memory or onto disk."""

    def __init__(self, app: ASGIApp, default: int, per_path: dict[str, int] | None = None) -> None:
        self.app = app
        self.default = default
        self.per_path = per_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"].rstrip("/"), self.default)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            body = error_body("too_large", too_large_message(limit))
            await JSONResponse(body, 413, headers={"Connection": "close"})(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counting_receive, send)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class SecurityHeaders:
    """Headers every response gets: no MIME sniffing, no framing by other sites (clickjacking). The chat page's
    own, stricter policy (api/routes/page.py) is kept where a response sets one."""

    HEADERS = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
    ]
    FRAME_POLICY = (b"content-security-policy", b"frame-ancestors 'none'")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in self.HEADERS if k not in present]
                if self.FRAME_POLICY[0] not in present:
                    headers.append(self.FRAME_POLICY)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def loggable_path(scope: Scope) -> str:
    """The path as it came on the wire (still percent-encoded), so `%0a` cannot start a forged log line; any
    control character left is escaped too."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else scope["path"]
    return "".join(c if c.isprintable() and c != " " else f"%{ord(c):02X}" for c in path.split("?", 1)[0])


class RequestLog:
    """`METHOD /path STATUS total_ms=.. retrieval_ms=.. generation_ms=..`; path only, never the query
    string, headers or body (they can carry keys and questions)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500
        state: dict[str, Any] = scope.setdefault("state", {})

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            # Routes put their own timings in request.state.timings (a dict they may fill while streaming).
            timings = state.get("timings") or {}
            extra = "".join(f" {k}={v:.0f}" for k, v in timings.items() if isinstance(v, int | float))
            log.info(
                "%s %s %d total_ms=%.0f%s",
                scope["method"],
                loggable_path(scope),
                status,
                (time.perf_counter() - t0) * 1000,
                extra,
            )
