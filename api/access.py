"""Who may call what, decided before a request's body is read: API keys and their roles, and, without keys,
the loopback guard against other web sites (cross-site posts, DNS rebinding).

Pure ASGI and outermost but for the request log: a refused upload costs its headers only, never its body
(FastAPI reads a form before it runs a route's dependencies, so a dependency would be too late).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_body
from api.keys import Keys
from rag.access import Reader
from rag.config import Settings

log = logging.getLogger("api")

Role = Literal["read", "admin"]
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
SELF_AUTHENTICATED = {"/slack/events"}  # signed by Slack (api/slack/events.py)


def needs_admin(method: str, path: str) -> bool:
    """Writes to the index, and reading the feedback log (questions, Slack user ids), are for admin keys only;
    any key may vote on an answer (POST /v1/feedback)."""
    path = path.rstrip("/")
    if path == "/v1/feedback":
        return method in SAFE_METHODS
    return path.startswith("/v1/documents") and method not in SAFE_METHODS


def needs_key(path: str) -> bool:
    # /readyz answers everyone, but only says more than ready/not ready to a key (api/routes/health.py).
    return path.startswith("/v1/") or path.rstrip("/") == "/metrics"


@dataclass(frozen=True)
class Refusal:
    status: int
    type: str
    message: str


@dataclass(frozen=True)
class Caller:
    """What the Authorization header proved: the reader the request acts for, and whether a key of the keys file
    (which names a person) or of RAG_API_KEYS / RAG_ADMIN_KEYS (which name no one) proved it."""

    reader: Reader
    named: bool = False

    @property
    def role(self) -> Role:
        return "admin" if self.reader.admin else "read"


def caller_of(authorization: str, keys: Keys) -> Caller | None | Refusal:
    """Who a request's `Authorization` header says the caller is; None when the server has no keys at all."""
    if not keys.has_keys:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return Refusal(401, "unauthorized", "this server needs an API key: send 'Authorization: Bearer <key>'")
    entry = keys.reader_for(token)
    if entry is None:
        return Refusal(401, "unauthorized", "the API key is not valid for this server")
    return Caller(entry.reader, entry.named)


def host_name(host_header: str) -> str:
    """`[::1]:8000` -> `::1`, `localhost:8000` -> `localhost` (lower case, no port)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def loopback_guard(method: str, headers: dict[str, str]) -> Refusal | None:
    """Without keys the server trusts whoever can reach loopback, so it must be sure the caller is a local
    program or its own page: a browser sends the page's `Host` (DNS rebinding keeps a foreign name there) and,
    on posts, the `Origin` of the site that made it."""
    host = headers.get("host", "")
    if host_name(host) not in LOOPBACK_NAMES:
        return Refusal(
            403,
            "forbidden",
            f"Host '{host[:100]}' is not a loopback name; without API keys this server answers only "
            "http://127.0.0.1, http://localhost or http://[::1] (set RAG_API_KEYS to serve other names)",
        )
    origin = headers.get("origin")
    if origin is not None and method not in SAFE_METHODS:
        parts = urlsplit(origin)
        same = parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()
        if not same:
            return Refusal(
                403,
                "forbidden",
                f"a request from another site (Origin '{origin[:100]}') may not change anything on this server",
            )
    return None


class Access:
    """401/403 before the body is read. The caller is left in `request.state`: `reader` (the Reader every search,
    listing and download acts for), `caller` (the Caller, None without keys) and `role` (read, admin or None)."""

    def __init__(self, app: ASGIApp, settings: Settings, keys: Keys | None = None) -> None:
        self.app = app
        self.settings = settings
        self.keys = keys if keys is not None else Keys.load(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}
        method, path = scope["method"], scope["path"]
        granted = caller_of(headers.get("authorization", ""), self.keys)
        refusal: Refusal | None = None
        role: Role | None = None  # None: no valid key on a server that has keys (only open paths answer)
        reader: Reader | None = None
        caller: Caller | None = None
        if granted is None:  # no keys at all: loopback mode, where the local user may do everything
            role, reader = "admin", Reader.trusted()
            # Slack's endpoint proves each request with its signature, and reaches us through a proxy that may
            # pass on the public Host: it is the one path the loopback guard leaves to its own check.
            refusal = None if path in SELF_AUTHENTICATED else loopback_guard(method, headers)
        elif isinstance(granted, Refusal):
            refusal = granted if needs_key(path) else None
        else:
            caller, role, reader = granted, granted.role, granted.reader
            if role != "admin" and needs_admin(method, path):
                message = "this needs an admin key (RAG_ADMIN_KEYS, or admin = true in RAG_KEYS_FILE)"
                refusal = Refusal(403, "forbidden", message + "; this key may only read and ask")
        if refusal is not None:
            extra = {"WWW-Authenticate": "Bearer"} if refusal.status == 401 else {}
            # Connection: close, so a client that already started sending a large body is not read further.
            response = JSONResponse(
                error_body(refusal.type, refusal.message), refusal.status, headers={"Connection": "close", **extra}
            )
            await response(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["role"], state["reader"], state["caller"] = role, reader, caller
        await self.app(scope, receive, send)
