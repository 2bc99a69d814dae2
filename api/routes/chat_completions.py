"""POST /v1/chat/completions and GET /v1/models: the assistant as an OpenAI-compatible "model".

Any OpenAI client (the `openai` package, Open WebUI, ...) can use it. The last user message is the question,
earlier user/assistant messages the history. Sources are appended to the answer text as a numbered list and
returned as data in an extra `sources` field (on the response, or on the last chunk of a stream).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request

from api.errors import APIError
from api.generation import GatedStream, asker, disconnected, llm_failure, service_of
from api.openai_schemas import MODEL_ID, ChatCompletion, ChatCompletionRequest, ChatMessage, ModelList, chunk
from api.public import redact
from api.routes.ask import ASK_ERRORS
from api.streaming import SSE_HEADERS
from rag.answering.answerer import Answer, AnswerFailed, Message, Sources, Token, citation_dict
from rag.llm.client import LLMError
from rag.retrieval.retriever import Passage
from rag.service import Finished

log = logging.getLogger("api")
router = APIRouter(prefix="/v1", tags=["openai-compatible"])
STARTED = int(time.time())
SOURCES_HEADING = "\n\nSources:\n"
CHECKED_HEADING = "\n\nChecked answer: "
QUOTE_CHARS = 160


@router.get("/models", response_model=ModelList, summary="The one model this server offers")
async def models() -> dict[str, Any]:
    return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": STARTED, "owned_by": "seedrag"}]}


def split_messages(messages: list[ChatMessage]) -> tuple[str, list[Message]]:
    """(question, history): the last message is the question; our own source lists are cut from the history."""
    last = messages[-1]
    if last.role != "user":
        raise APIError(422, "invalid_request", f"the last message must be the user's question, not '{last.role}'")
    history = []
    for m in messages[:-1]:
        if m.role in ("user", "assistant"):
            text = m.text().split(CHECKED_HEADING)[0].split(SOURCES_HEADING)[0]
            history.append(Message(m.role, text))
    return last.text(), history


def sources_text(citations: list[tuple[int, Passage]]) -> str:
    """The numbered list appended to the answer: number, file, place, and the start of the passage."""
    if not citations:
        return ""
    lines = []
    for n, p in citations:
        quote = " ".join(p.text.split()).strip('“”"')  # the passage's own quote marks would double ours
        if len(quote) > QUOTE_CHARS:
            quote = quote[:QUOTE_CHARS].rsplit(" ", 1)[0] + "…"
        lines.append(f"[{n}] {p.name} ({p.where}): “{quote}”")
    return SOURCES_HEADING + "\n".join(lines)


def closing_text(answer: Answer, streamed: str) -> str:
    """What follows the streamed words: the checked answer when the check changed them, then the sources."""
    # The words already sent cannot be taken back: when the check removed a citation or withheld the answer,
    # say what it made of them. A marker it only added (the model forgot one) needs no note: the list shows it.
    sent = streamed.strip()
    if sent and not answer.refused and answer.answer.startswith(sent):
        # The check kept the words and added what follows them (the citation marker): send just that.
        return answer.answer[len(sent) :] + sources_text(answer.citations)
    changed = answer.removed_citations.get("invented") or answer.removed_citations.get("unsupported")
    withheld = answer.refused and answer.answer.strip() != sent
    # An evidence-first answer the check rewrote (a yes/no settled by the quoted sentence) differs from the
    # words sent; a plain reply whose check only added a marker does not need saying again.
    rewritten = bool(sent) and answer.checks.get("reply") != "plain" and not answer.answer.startswith(sent)
    note = CHECKED_HEADING + answer.answer if changed or withheld or rewritten else ""
    return note + sources_text(answer.citations)


def extras(answer: Answer) -> dict[str, Any]:
    return {
        "sources": [citation_dict(n, p) for n, p in answer.citations],
        "refused": answer.refused,
        "standalone_question": answer.standalone_question,
    }


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    summary="OpenAI-compatible chat completion (plain or `stream: true`)",
    description="The last user message is the question, earlier user/assistant messages the history. The answer "
    "text ends with a numbered list of sources; `sources` holds them as data (on the last chunk when streaming). "
    "If the LLM fails the status is 502/503/504 with the retrieved passages; mid-stream, an OpenAI-style "
    "`error` chunk ends the stream.",
    responses={
        **ASK_ERRORS,
        200: {
            "description": "The completion; with `stream: true`, `chat.completion.chunk` events and `data: [DONE]`",
            "content": {
                "text/event-stream": {
                    "example": 'data: {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": '
                    '{"content": "Serbia "}, "finish_reason": null}], ...}\n\ndata: [DONE]\n\n',
                }
            },
        },
    },
)
async def chat_completions(req: ChatCompletionRequest, request: Request) -> Any:
    question, history = split_messages(req.messages)
    # The completion's id is the id the answer is remembered under: a client rates it with POST /v1/feedback.
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    timings: dict[str, float] = {}
    request.state.timings = timings
    service = service_of(request)
    who = asker(request, "openai")
    if not req.stream:
        try:
            done = await service.ask(question, history, who, req.top_k, disconnected(request), completion_id)
        except AnswerFailed as e:
            timings["retrieval_ms"] = e.retrieval_ms
            raise llm_failure(e) from e
        answer = done.answer
        timings.update(retrieval_ms=answer.retrieval_ms, generation_ms=answer.generation_ms)
        return {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": MODEL_ID,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.answer + sources_text(answer.citations)},
                    "finish_reason": "stop",
                }
            ],
            **extras(answer),
        }

    stream = await service.open(question, history, who, req.top_k, completion_id)
    # Wait for the first word before sending the status line, so an LLM that is down is an HTTP error the
    # client's library raises, not a stream that ends strangely.
    head: list[Sources | Token | Finished] = []
    try:
        async for ev in stream:
            head.append(ev)
            if isinstance(ev, Sources):
                timings["retrieval_ms"] = ev.retrieval_ms
            else:
                break
    except BaseException as e:  # the slot goes back whatever happened: the stream that would return it never starts
        await stream.close()
        if isinstance(e, AnswerFailed):
            raise llm_failure(e) from e
        raise

    async def body() -> AsyncIterator[str]:
        def data(obj: dict[str, Any]) -> str:
            return f"data: {json.dumps(redact(obj), ensure_ascii=False)}\n\n"

        streamed: list[str] = []
        yield data(chunk(completion_id, created, {"role": "assistant", "content": ""}))
        try:
            for ev in head:
                for out in _translate(ev, streamed, completion_id, created, timings):
                    yield data(out)
            async for ev in stream:
                for out in _translate(ev, streamed, completion_id, created, timings):
                    yield data(out)
        except (AnswerFailed, LLMError) as e:
            yield data({"error": {"type": "llm_unavailable", "message": str(e), "code": 502}})
            return
        except Exception as e:  # the status line is gone: say it the way OpenAI streams say it
            log.exception("chat completion stream failed")
            message = f"{type(e).__name__}: the server failed; see its log"
            yield data({"error": {"type": "internal_error", "message": message, "code": 500}})
            return
        yield "data: [DONE]\n\n"

    return GatedStream(stream, body(), media_type="text/event-stream", headers=SSE_HEADERS)


def _translate(
    ev: Sources | Token | Finished, streamed: list[str], completion_id: str, created: int, timings: dict[str, float]
) -> list[dict[str, Any]]:
    """The OpenAI chunks for one pipeline event."""
    if isinstance(ev, Token):
        streamed.append(ev.text)
        return [chunk(completion_id, created, {"content": ev.text})]
    if isinstance(ev, Finished):
        timings["generation_ms"] = ev.answer.generation_ms
        out = []
        closing = closing_text(ev.answer, "".join(streamed))
        if closing:
            out.append(chunk(completion_id, created, {"content": closing}))
        out.append({**chunk(completion_id, created, {}, "stop"), **extras(ev.answer)})
        return out
    return []  # Sources: already used for the status decision; OpenAI has no event for them
