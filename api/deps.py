"""Dependencies: the pipeline and settings built once at start-up. (Keys are checked in api/access.py.)"""

from __future__ import annotations

import anyio
from fastapi import Request

from rag.config import Settings
from rag.pipeline import Pipeline


def get_pipeline(request: Request) -> Pipeline:
    return request.app.state.pipeline  # type: ignore[no-any-return]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_ingest_limiter(request: Request) -> anyio.CapacityLimiter:
    """One ingest or removal at a time, per app; created on first use, inside the event loop."""
    state = request.app.state
    if getattr(state, "ingest_limiter", None) is None:
        state.ingest_limiter = anyio.CapacityLimiter(1)
    return state.ingest_limiter  # type: ignore[no-any-return]
