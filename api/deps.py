"""Dependencies: the pipeline and settings built once at start-up, and API-key auth."""

from __future__ import annotations

import hmac

import anyio
from fastapi import Request

from api.errors import APIError
from rag.config import Settings
from rag.pipeline import Pipeline


def get_pipeline(request: Request) -> Pipeline:
    return request.app.state.pipeline  # type: ignore[no-any-return]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def require_key(request: Request) -> None:
    keys: list[str] = request.app.state.settings.api_key_list
    if not keys:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise APIError(401, "unauthorized", "this server needs an API key: send 'Authorization: Bearer <key>'")
    if not any(hmac.compare_digest(token.strip().encode(), k.encode()) for k in keys):
        raise APIError(401, "unauthorized", "the API key is not valid for this server")


def get_ingest_limiter(request: Request) -> anyio.CapacityLimiter:
    """One ingest or removal at a time, per app; created on first use, inside the event loop."""
    state = request.app.state
    if getattr(state, "ingest_limiter", None) is None:
        state.ingest_limiter = anyio.CapacityLimiter(1)
    return state.ingest_limiter  # type: ignore[no-any-return]
