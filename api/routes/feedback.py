"""GET /v1/feedback: what people thought of the answers (recorded from Slack's buttons)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query

from api.deps import get_settings, require_key
from rag.config import Settings
from rag.feedback import FeedbackStore, feedback_path

router = APIRouter(prefix="/v1", tags=["feedback"], dependencies=[Depends(require_key)])


@router.get("/feedback", summary="Recent feedback, newest first, with the question, answer and citations")
def list_feedback(
    limit: int = Query(20, ge=1, le=1000),
    rating: Literal["helpful", "not_helpful"] | None = None,
    settings: Settings = Depends(get_settings),
) -> dict[str, Any]:
    store = FeedbackStore(feedback_path(settings.data_dir))
    return {"counts": store.counts(), "feedback": [r.to_dict() for r in store.recent(limit, rating)]}
