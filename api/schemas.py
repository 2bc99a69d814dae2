"""Request and response shapes of the HTTP API (kept apart from the pipeline's own dataclasses)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class HistoryMessage(BaseModel):
    role: Literal["user", "assistant", "system"]
    content: str = Field(max_length=20_000)


class AskRequest(BaseModel):
    question: str = Field(min_length=1, examples=["What does Serbia want to import from Azerbaijan?"])
    top_k: int | None = Field(None, ge=1, le=20, description="passages to retrieve (default: the server's top_k)")
    history: list[HistoryMessage] = Field(default_factory=list, description="earlier turns, oldest first")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"question": "What does Serbia want to import from Azerbaijan?"},
                {
                    "question": "and what about oil?",
                    "history": [
                        {"role": "user", "content": "What does Serbia want to import from Azerbaijan?"},
                        {"role": "assistant", "content": "Serbia would import gas from Azerbaijan [2]."},
                    ],
                },
            ]
        }
    }


class Citation(BaseModel):
    id: int
    source: str
    name: str
    title: str
    chunk_id: str
    start: int
    end: int
    line: int | None = None
    page: int | None = None
    text: str
    score: float


class AskResponse(BaseModel):
    answer: str
    citations: list[Citation]
    refused: bool
    model: str
    retrieval_ms: float
    generation_ms: float
    question: str
    standalone_question: str | None = None
    removed_citations: dict[str, list[int]] = {}
    passages: list[Citation] = []
