"""GET /healthz (the process answers) and GET /readyz (index, embedding model, LLM: each reported)."""

from __future__ import annotations

import time
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import get_pipeline
from rag.pipeline import Pipeline

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


READY_CACHE_S = 5.0


class ReadyCache:
    """The last readiness checks, shared for a few seconds: a probe hit every second (or a flood of them)
    costs one embedding and one LLM ping per interval, not per request."""

    def __init__(self) -> None:
        self.at = -1e9
        self.checks: dict[str, Any] = {}
        self.lock = anyio.Lock()


@router.get(
    "/readyz",
    summary="Readiness: index, embedding model and LLM, each reported",
    description="200 when all three work, else 503. Needs no key; without one (on a server with keys) only "
    "`ready` is shown, with a key each check says what failed. Checks run at most every 5 s; hits in between "
    "get the last result.",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "ready": True,
                        "checks": {
                            "index": {"ok": True, "chunks": 5, "documents": 1},
                            "embedding_model": {"ok": True, "name": "all-MiniLM-L6-v2-int8"},
                            "llm": {"ok": True, "model": "qwen2.5-coder-1.5b-instruct-q4_k_m"},
                        },
                    }
                }
            }
        },
        503: {"description": "Not ready: the failing check has `ok: false` and an `error`"},
    },
)
async def readyz(request: Request, pipe: Pipeline = Depends(get_pipeline)) -> JSONResponse:
    state = request.app.state
    if getattr(state, "ready_cache", None) is None:
        state.ready_cache = ReadyCache()
    cache: ReadyCache = state.ready_cache
    async with cache.lock:
        if time.monotonic() - cache.at > READY_CACHE_S:
            cache.checks = await _checks(pipe)
            cache.at = time.monotonic()
    ready = all(c["ok"] for c in cache.checks.values())
    status = 200 if ready else 503
    if getattr(request.state, "role", None) is None:  # a server with keys, asked without one
        return JSONResponse({"ready": ready}, status_code=status)
    checks = cache.checks
    reader = getattr(request.state, "reader", None)
    if reader is None or not reader.reads_all:
        # The index's size counts documents this key may not read: said to keys that read every document only.
        checks = {**checks, "index": {k: v for k, v in checks["index"].items() if k not in ("chunks", "documents")}}
    return JSONResponse({"ready": ready, "checks": checks}, status_code=status)


async def _checks(pipe: Pipeline) -> dict[str, Any]:
    checks: dict[str, Any] = {}

    def index() -> dict[str, Any]:
        return {"ok": True, "chunks": pipe.vectors.count(), "documents": len(pipe.keywords.records())}

    try:
        checks["index"] = await run_in_threadpool(index)
    except Exception as e:  # noqa: BLE001 - reported, not raised
        checks["index"] = {"ok": False, "error": str(e)}
    try:
        await run_in_threadpool(pipe.embedder.embed, ["ready?"])
        checks["embedding_model"] = {"ok": True, "name": pipe.embedder.name}
    except Exception as e:  # noqa: BLE001
        checks["embedding_model"] = {"ok": False, "name": pipe.embedder.name, "error": str(e)}
    problem = await run_in_threadpool(pipe.llm.ping)
    # The LLM's address is internal: the model's name says which one is meant; the error says what failed.
    checks["llm"] = {"ok": problem is None, "model": pipe.llm.model}
    if problem:
        checks["llm"]["error"] = problem
    return checks
