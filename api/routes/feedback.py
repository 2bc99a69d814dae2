"""GET /v1/feedback (what people thought of the answers) and POST /v1/feedback (a vote on one answer).

Answers from /v1/ask and /v1/ask/stream carry an `answer_id` (a chat completion's `id` is one); the answer
itself is remembered on the server (rag/service.py), so a vote judges the answer as it was given, not
whatever text a client sends back.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.errors import APIError
from api.generation import reader_of, service_of, voter, who
from api.schemas import AUTH_ERROR, error_example
from rag.index.feedback import UnknownAnswer

router = APIRouter(prefix="/v1", tags=["feedback"])


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
    description="`answer_id` comes from the /v1/ask (or the stream's `done`) answer given to this caller (another "
    "caller's answer is a 404, unless the key reads every document). The vote belongs to the API "
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
    store = service_of(request).feedback
    # A caller votes on the answers it was given, and nobody else's: an answer drawn from documents it may not
    # read is, to it, an answer that does not exist (the same 404). A reader who reads all may vote on any.
    asker = None if reader_of(request).reads_all else await run_in_threadpool(who, request)
    try:
        await run_in_threadpool(store.record, body.answer_id, user, body.rating, body.comment.strip(), asker)
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
    store = service_of(request).feedback
    return {"counts": store.counts(), "feedback": [r.to_dict() for r in store.recent(limit, rating)]}
