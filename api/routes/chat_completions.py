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
from api.openai_schemas import (
    MODEL_ID,
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessage,
    Model,
    ModelList,
    chunk,
)
from api.public import redact
from api.routes.ask import ASK_ERRORS
from api.schemas import error_example
from api.streaming import SSE_HEADERS
from rag.answering.answerer import Answer, AnswerFailed, Message, Sources, Token, citation_dict
from rag.answering.history import CHECKED_HEADING, SOURCES_HEADING
from rag.config import Settings
from rag.llm.client import LLMError
from rag.retrieval.retriever import Passage
from rag.service import Finished

log = logging.getLogger("api")
router = APIRouter(prefix="/v1", tags=["openai-compatible"])
STARTED = int(time.time())
QUOTE_CHARS = 160


def _model() -> dict[str, Any]:
    return {"id": MODEL_ID, "object": "model", "created": STARTED, "owned_by": "seedrag"}


@router.get("/models", response_model=ModelList, summary="The one model this server offers")
async def models() -> dict[str, Any]:
    return {"object": "list", "data": [_model()]}


@router.get(
    "/models/{model_id}",
    response_model=Model,
    summary="One model (`client.models.retrieve`)",
    responses={404: error_example("not_found", "no model 'gpt-4o'; this server offers 'seedrag'")},
)
async def model(model_id: str) -> dict[str, Any]:
    if model_id != MODEL_ID:
        raise APIError(404, "not_found", f"no model '{model_id[:100]}'; this server offers '{MODEL_ID}'")
    return _model()


def refuse_unsupported(req: ChatCompletionRequest, settings: Settings) -> None:
    """A 400 for each field that would change what comes back and that seedrag cannot honour."""

    def refuse(message: str) -> None:
        raise APIError(400, "unsupported_parameter", message)

    if req.n not in (None, 1):
        refuse(f"n={req.n}: seedrag gives one checked answer per question; send n=1 or leave it out")
    if req.tools or req.functions or req.tool_choice not in (None, "none", "auto"):
        refuse("tools and functions are not supported: answers come from the indexed documents; leave them out")
    if req.response_format and req.response_format.get("type", "text") != "text":
        refuse("response_format: answers are text with cited sources; send {'type': 'text'} or leave it out")
    if req.logprobs:
        refuse("logprobs are not available: the answer is checked text, not sampled tokens; leave it out")
    cap = min(t for t in (req.max_tokens, req.max_completion_tokens, 1 << 30) if t is not None)
    if cap < settings.llm_max_tokens:
        refuse(
            f"max_tokens={cap} is below the {settings.llm_max_tokens} tokens an answer may take "
            "(RAG_LLM_MAX_TOKENS): a cut answer could not be checked; send at least that, or leave it out"
        )


def split_messages(messages: list[ChatMessage]) -> tuple[str, list[Message]]:
    """(question, history): the last message is the question, the user and assistant messages before it the
    history (an assistant turn is read as checked, sources cut, by rag/answering/history.py)."""
    last = messages[-1]
    if last.role != "user":
        raise APIError(422, "invalid_request", f"the last message must be the user's question, not '{last.role}'")
    history = []
    for m in messages[:-1]:
        if m.role in ("user", "assistant"):
            history.append(Message(m.role, m.text()))  # our headings are read by cap_history (answer_of)
        elif m.role not in ("system", "developer"):  # the asker's instructions: instructions_of()
            raise APIError(400, "unsupported_parameter", f"messages with role '{m.role[:20]}' are not supported")
    return last.text(), history


def instructions_of(messages: list[ChatMessage], settings: Settings) -> str:
    """The client's system (or developer) messages: the asker's instructions on style and language, which the
    answer prompt fences and places before the rules (rag/answering/answerer.py)."""
    text = "\n\n".join(m.text() for m in messages if m.role in ("system", "developer")).strip()
    if len(text) > settings.max_message_chars:
        raise APIError(
            413,
            "too_large",
            f"system messages are {len(text)} characters; the limit is {settings.max_message_chars} "
            "(RAG_MAX_MESSAGE_CHARS)",
        )
    return text


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
        400: error_example("unsupported_parameter", "n=2: seedrag gives one checked answer per question; send n=1"),
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
    service = service_of(request)
    refuse_unsupported(req, service.settings)
    question, history = split_messages(req.messages)
    who = asker(request, "openai", instructions_of(req.messages, service.settings))
    # The completion's id is the id the answer is remembered under: a client rates it with POST /v1/feedback.
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    created = int(time.time())
    timings: dict[str, float] = {}
    request.state.timings = timings
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
                    "message": {
                        "role": "assistant",
                        "content": answer.answer + sources_text(answer.citations),
                        # OpenAI's field for a model declining to answer: a client can tell it from an answer.
                        "refusal": answer.answer if answer.refused else None,
                    },
                    "finish_reason": "stop",
                }
            ],
            "usage": answer.usage.to_dict(),
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
        with_usage = bool(req.stream_options and req.stream_options.include_usage)
        yield data(chunk(completion_id, created, {"role": "assistant", "content": ""}))
        try:
            for ev in head:
                for out in _translate(ev, streamed, completion_id, created, timings, with_usage):
                    yield data(out)
            async for ev in stream:
                for out in _translate(ev, streamed, completion_id, created, timings, with_usage):
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
    ev: Sources | Token | Finished,
    streamed: list[str],
    completion_id: str,
    created: int,
    timings: dict[str, float],
    with_usage: bool,
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
        if ev.answer.refused:  # as OpenAI streams a refusal: in `delta.refusal`, beside the words already sent
            out.append(chunk(completion_id, created, {"refusal": ev.answer.answer}))
        out.append({**chunk(completion_id, created, {}, "stop"), **extras(ev.answer)})
        if with_usage:  # as OpenAI sends it when asked: one last chunk, with no choices, carrying the usage
            out.append({**chunk(completion_id, created, {}), "choices": [], "usage": ev.answer.usage.to_dict()})
        return out
    return []  # Sources: already used for the status decision; OpenAI has no event for them
