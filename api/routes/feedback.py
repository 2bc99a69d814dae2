"""GET /v1/feedback (what people thought of the answers) and POST /v1/feedback (a vote on one answer).

Answers from /v1/ask and /v1/ask/stream carry an `answer_id`; the answer itself is remembered on the
server, so a vote judges the answer as it was given, not whatever text a client sends back.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.errors import APIError
from api.schemas import AUTH_ERROR, error_example
from rag.answering.answerer import Answer, citation_dict
from rag.index.feedback import Feedback, UnknownAnswer, make_feedback

router = APIRouter(prefix="/v1", tags=["feedback"])

# The chat page names itself in this header, so that `rag feedback` can tell its votes from API clients'.
CLIENT_HEADER = "x-seedrag-client"


def feedback_store(request: Request) -> Feedback:
    """The app's store (a SQLite file, or the shared database), opened and its schema checked once."""
    state = request.app.state
    if getattr(state, "feedback_store", None) is None:
        state.feedback_store = make_feedback(state.settings)
    return state.feedback_store  # type: ignore[no-any-return]


def remember(request: Request, answer: Answer) -> str:
    """Keep the answer for later votes; its id. Called in a worker thread (a database write)."""
    answer_id = uuid.uuid4().hex
    feedback_store(request).remember(
        answer_id,
        surface="page" if request.headers.get(CLIENT_HEADER) == "page" else "api",
        place="",
        asker=_who(request),
        question=answer.question,
        answer=answer.answer,
        refused=answer.refused,
        citations=[citation_dict(n, p) for n, p in answer.citations],
    )
    return answer_id


def _who(request: Request) -> str:
    """Who is calling, as far as the server knows: its API key, named by a hash keyed with the store's secret
    salt (it tells keys apart in `rag feedback`, and no one can test a guessed key against it); without keys,
    'anonymous'. Called in a worker thread (the salt is read from the store once)."""
    state = request.app.state
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if not state.settings.has_keys or scheme.lower() != "bearer" or not token.strip():
        return "anonymous"
    if getattr(state, "voter_salt", None) is None:
        state.voter_salt = feedback_store(request).salt()
    return "key:" + hmac.new(state.voter_salt, token.strip().encode(), hashlib.sha256).hexdigest()[:12]


def voter(request: Request, user: str | None) -> str:
    """A vote's owner: the caller, then the name it gives (a browser's id, a person behind a shared key) under
    it. A name alone never owns a vote, or any key could replace anyone's vote by sending their name."""
    who = _who(request)
    name = (user or "").strip()
    return f"{who}/{name}" if name else who


class FeedbackRequest(BaseModel):
    answer_id: str = Field(min_length=1, max_length=64, description="the `answer_id` of a /v1/ask answer")
    rating: Literal["helpful", "not_helpful"]
    comment: str = Field("", max_length=2000, description="optional: what was wrong, or right")
    user: str | None = Field(
        None,
        max_length=200,
        description="who votes, within the API key that sends the vote (recorded as '<key>/<user>'); one vote per "
        "user per answer (a new one replaces it)",
    )


@router.post(
    "/feedback",
    summary="Rate an answer: helpful or not, with an optional comment",
    description="`answer_id` comes from the /v1/ask (or the stream's `done`) answer. The vote belongs to the API "
    "key that sends it (named by a keyed hash, never the key), and within it to `user` if given: a key can "
    "never replace another key's vote. `rag feedback` and GET /v1/feedback list it.",
    responses={
        **AUTH_ERROR,
        404: error_example("not_found", "no answer with id 'ffff'; answers are kept 30 days unless rated"),
        422: error_example("invalid_request", "rating: Input should be 'helpful' or 'not_helpful'"),
    },
)
async def post_feedback(body: FeedbackRequest, request: Request) -> dict[str, Any]:
    user = await run_in_threadpool(voter, request, body.user)
    store = feedback_store(request)
    try:
        await run_in_threadpool(store.record, body.answer_id, user, body.rating, body.comment.strip())
    except UnknownAnswer:
        raise APIError(
            404, "not_found", f"no answer with id '{body.answer_id}'; answers are kept 30 days unless rated"
        ) from None
    return {"recorded": {"answer_id": body.answer_id, "user": user, "rating": body.rating}}


@router.get("/feedback", summary="Recent feedback, newest first, with the question, answer and citations")
def list_feedback(
    request: Request,
    limit: int = Query(20, ge=1, le=1000),
    rating: Literal["helpful", "not_helpful"] | None = None,
) -> dict[str, Any]:
    store = feedback_store(request)
    return {"counts": store.counts(), "feedback": [r.to_dict() for r in store.recent(limit, rating)]}
