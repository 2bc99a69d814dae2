"""GET /healthz (the process answers) and GET /readyz (index, embedding model, LLM: each reported)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import get_pipeline
from rag.pipeline import Pipeline

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: index, embedding model and LLM, each reported",
    description="200 when all three work, else 503; each check says what failed. Needs no API key.",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "ready": True,
                        "checks": {
                            "index": {"ok": True, "chunks": 5, "documents": 1},
                            "embedding_model": {"ok": True, "name": "all-MiniLM-L6-v2-int8"},
                            "llm": {
                                "ok": True,
                                "base_url": "http://127.0.0.1:8081/v1",
                                "model": "qwen2.5-coder-1.5b-instruct-q4_k_m",
                            },
                        },
                    }
                }
            }
        },
        503: {"description": "Not ready: the failing check has `ok: false` and an `error`"},
    },
)
async def readyz(pipe: Pipeline = Depends(get_pipeline)) -> JSONResponse:
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
    checks["llm"] = {"ok": problem is None, "base_url": pipe.llm.base_url, "model": pipe.llm.model}
    if problem:
        checks["llm"]["error"] = problem
    ready = all(c["ok"] for c in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)
