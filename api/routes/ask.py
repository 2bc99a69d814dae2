"""POST /v1/ask (JSON) and POST /v1/ask/stream (Server-Sent Events)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from api.deps import get_pipeline, get_settings, require_key
from api.errors import APIError
from api.schemas import AskRequest, AskResponse
from rag.answer import AnswerFailed, Done, Message, Sources, Token, citation_dict
from rag.config import Settings
from rag.llm import LLMError
from rag.pipeline import Pipeline

log = logging.getLogger("api")
router = APIRouter(prefix="/v1", tags=["ask"], dependencies=[Depends(require_key)])


def validate(req: AskRequest, settings: Settings) -> list[Message]:
    if len(req.question) > settings.max_question_chars:
        raise APIError(
            413,
            "too_large",
            f"question is {len(req.question)} characters; the limit is "
            f"{settings.max_question_chars} (RAG_MAX_QUESTION_CHARS)",
        )
    if not req.question.strip():
        raise APIError(422, "invalid_request", "question is empty")
    history = [Message(m.role, m.content) for m in req.history if m.role != "system"]
    return history[-settings.max_history_messages :]


def llm_failure(e: AnswerFailed) -> APIError:
    status = 504 if e.error.cause == "timed out" else 503 if e.error.cause.startswith("unreachable") else 502
    return APIError(
        status,
        "llm_unavailable",
        str(e),
        passages=[citation_dict(i, p) for i, p in enumerate(e.passages, 1)],
        retrieval_ms=round(e.retrieval_ms, 1),
    )


@router.post(
    "/ask",
    response_model=AskResponse,
    summary="Answer a question with citations",
    responses={503: {"description": "LLM unreachable; body holds the retrieved passages"}},
)
async def ask(
    req: AskRequest,
    request: Request,
    pipe: Pipeline = Depends(get_pipeline),
    settings: Settings = Depends(get_settings),
) -> dict[str, Any]:
    history = validate(req, settings)
    t0 = time.perf_counter()
    try:
        answer = await run_in_threadpool(pipe.answerer.ask, req.question, history, req.top_k)
    except AnswerFailed as e:
        raise llm_failure(e) from e
    request.state.timings = {
        "retrieval_ms": answer.retrieval_ms,
        "generation_ms": answer.generation_ms,
        "total_ms": (time.perf_counter() - t0) * 1000,
    }
    return answer.to_dict()


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post(
    "/ask/stream",
    summary="Answer a question, streamed as Server-Sent Events",
    description="Events: `sources` (retrieved passages), then `token` ({text}) as the model writes, "
    "then `done` (the checked answer, as /v1/ask returns it); `error` if the model fails.",
)
async def ask_stream(
    req: AskRequest, pipe: Pipeline = Depends(get_pipeline), settings: Settings = Depends(get_settings)
) -> StreamingResponse:
    history = validate(req, settings)

    async def events() -> AsyncIterator[str]:
        passages: list[dict[str, Any]] = []
        try:
            async for ev in iterate_in_threadpool(pipe.answerer.stream(req.question, history, req.top_k)):
                if isinstance(ev, Sources):
                    passages = [citation_dict(i, p) for i, p in enumerate(ev.passages, 1)]
                    yield sse(
                        "sources",
                        {
                            "passages": passages,
                            "standalone_question": ev.standalone_question,
                            "retrieval_ms": round(ev.retrieval_ms, 1),
                        },
                    )
                elif isinstance(ev, Token):
                    yield sse("token", {"text": ev.text})
                elif isinstance(ev, Done):
                    yield sse("done", ev.answer.to_dict())
        except AnswerFailed as e:
            err = llm_failure(e)
            yield sse(
                "error",
                {"error": {"type": err.type, "message": err.message, "status": err.status}, "passages": passages},
            )
        except LLMError as e:
            yield sse("error", {"error": {"type": "llm_unavailable", "message": str(e)}, "passages": passages})
        except Exception as e:  # the stream has started: the status line is gone, so say it in an event
            log.exception("stream failed")
            yield sse(
                "error",
                {"error": {"type": "internal_error", "message": f"{type(e).__name__}: {e}"}, "passages": passages},
            )

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
