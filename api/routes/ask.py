"""POST /v1/ask (JSON) and POST /v1/ask/stream (Server-Sent Events)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from api.generation import GatedStream, asker, disconnected, llm_failure, service_of
from api.schemas import AUTH_ERROR, LLM_ERROR_EXAMPLE, AskRequest, AskResponse, LLMErrorBody, error_example
from api.streaming import SSE_HEADERS, sse
from rag.answering.answerer import AnswerFailed, Message, Sources, Token, citation_dict
from rag.llm.client import LLMError
from rag.service import Finished

log = logging.getLogger("api")
router = APIRouter(prefix="/v1", tags=["ask"])

ASK_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_ERROR,
    413: error_example("too_large", "question is 5012 characters; the limit is 4000 (RAG_MAX_QUESTION_CHARS)"),
    503: {
        "model": LLMErrorBody,
        "description": "The LLM is unreachable (the body holds the retrieved passages), or the server is busy: "
        "type `overloaded`, with a `Retry-After` header",
        "content": {"application/json": {"example": LLM_ERROR_EXAMPLE}},
    },
    422: error_example("invalid_request", "top_k: Input should be less than or equal to 20"),
    502: {
        "model": LLMErrorBody,
        "description": "The LLM answered with an error; the body holds the retrieved passages",
    },
    504: {"model": LLMErrorBody, "description": "The LLM did not answer in time (RAG_LLM_TIMEOUT)"},
}


def system_of(req: AskRequest) -> str:
    """History messages with role 'system': the asker's instructions on style and language, fenced and placed
    before the rules in the answer prompt (never dropped, never above the rules)."""
    return "\n\n".join(m.content for m in req.history if m.role == "system")


@router.post(
    "/ask",
    response_model=AskResponse,
    summary="Answer a question with citations",
    description="The same JSON as `rag ask --json`. With `history`, a follow-up question is first rewritten "
    "into a standalone one (see `standalone_question`). If the LLM fails, the status is 502/503/504 and the body "
    "still holds the retrieved `passages`. `answer_id` names the answer for POST /v1/feedback.",
    responses=ASK_ERRORS,
)
async def ask(req: AskRequest, request: Request) -> dict[str, Any]:
    service = service_of(request)
    history = [Message(m.role, m.content) for m in req.history]
    try:
        who = asker(request, instructions=system_of(req))
        done = await service.ask(req.question, history, who, req.top_k, until=disconnected(request))
    except AnswerFailed as e:
        request.state.timings = {"retrieval_ms": e.retrieval_ms}
        raise llm_failure(e) from e
    answer = done.answer
    request.state.timings = {"retrieval_ms": answer.retrieval_ms, "generation_ms": answer.generation_ms}
    return {**answer.to_dict(), "answer_id": done.answer_id}


@router.post(
    "/ask/stream",
    summary="Answer a question, streamed as Server-Sent Events",
    description="Events, in order: `sources` ({passages, standalone_question, retrieval_ms}), then `token` "
    "({text}) as the model writes, then `done` (the checked answer, exactly as /v1/ask returns it). If the model "
    "fails, an `error` event ({error: {type, message, status}, passages}) ends the stream instead of `done`. "
    "The `token` texts are the words of the model's answer as written (never its JSON); `done.answer` is the "
    "checked text to show at the end.",
    response_class=StreamingResponse,
    responses={
        **ASK_ERRORS,
        200: {
            "content": {
                "text/event-stream": {
                    "example": 'event: sources\ndata: {"passages": [...], "standalone_question": "...", '
                    '"retrieval_ms": 15.2}\n\nevent: token\ndata: {"text": "Serbia "}\n\n'
                    'event: token\ndata: {"text": "would "}\n\n...\n\nevent: done\ndata: {"answer": '
                    '"Serbia would import gas from Azerbaijan [2].", "citations": [...], ...}\n\n'
                }
            }
        },
    },
)
async def ask_stream(req: AskRequest, request: Request) -> StreamingResponse:
    history = [Message(m.role, m.content) for m in req.history]
    # Opened before the status line, so a full server is a 503, not a broken stream.
    who = asker(request, instructions=system_of(req))
    stream = await service_of(request).open(req.question, history, who, req.top_k)
    timings: dict[str, float] = {}
    request.state.timings = timings  # filled while streaming; the request log reads it at the end

    async def events() -> AsyncIterator[str]:
        passages: list[dict[str, Any]] = []
        try:
            async for ev in stream:
                if isinstance(ev, Sources):
                    timings["retrieval_ms"] = ev.retrieval_ms
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
                elif isinstance(ev, Finished):
                    timings["generation_ms"] = ev.answer.generation_ms
                    yield sse("done", {**ev.answer.to_dict(), "answer_id": ev.answer_id})
        except AnswerFailed as e:
            err = llm_failure(e)
            yield sse(
                "error",
                {"error": {"type": err.type, "message": err.message, "status": err.status}, "passages": passages},
            )
        except LLMError as e:
            error = {"type": "llm_unavailable", "message": str(e), "status": 502}
            yield sse("error", {"error": error, "passages": passages})
        except Exception as e:  # the stream has started: the status line is gone, so say it in an event
            log.exception("stream failed")
            error = {"type": "internal_error", "message": f"{type(e).__name__}: the server failed; see its log"}
            yield sse("error", {"error": {**error, "status": 500}, "passages": passages})

    return GatedStream(stream, events(), media_type="text/event-stream", headers=SSE_HEADERS)
