"""The OpenAI chat-completions shapes this service accepts and returns (the subset clients use).

Sampling fields (temperature, top_p, seed, user, ...) are accepted and left to the server: the answer's
settings are the server's, and clients such as Open WebUI send many of them. Fields that would change what
comes back (n, tools, a response format, max_tokens below the server's own cap, logprobs) are honoured or
refused with a 400 that says why (api/routes/chat_completions.py), never dropped.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import Citation

MODEL_ID = "seedrag"


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str = Field(examples=["user"])
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        """The message's text; list content (OpenAI "parts") is joined, non-text parts are left out."""
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content if p.type == "text" and p.text)
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "model": MODEL_ID,
                    "messages": [{"role": "user", "content": "What does Serbia want to import from Azerbaijan?"}],
                },
                {
                    "model": MODEL_ID,
                    "stream": True,
                    "messages": [
                        {"role": "user", "content": "What does Serbia want to import from Azerbaijan?"},
                        {"role": "assistant", "content": "Serbia would import gas from Azerbaijan [1]."},
                        {"role": "user", "content": "and what about oil?"},
                    ],
                },
            ]
        },
    )

    model: str = Field(MODEL_ID, description=f"any value is accepted; the answer comes from '{MODEL_ID}'")
    messages: list[ChatMessage] = Field(
        min_length=1, max_length=200, description="the last must be the user's question; earlier ones are history"
    )
    stream: bool = False
    stream_options: StreamOptions | None = Field(
        None, description="`include_usage: true`: a last chunk, with no choices, carries `usage`"
    )
    top_k: int | None = Field(None, ge=1, le=20, description="seedrag extension: passages to retrieve")
    n: int | None = Field(None, description="only 1: one checked answer per question")
    max_tokens: int | None = Field(None, description="at least the server's RAG_LLM_MAX_TOKENS, or a 400")
    max_completion_tokens: int | None = Field(None, description="as max_tokens")
    tools: list[Any] | None = Field(None, description="not supported: the answer comes from the documents")
    functions: list[Any] | None = Field(None, description="not supported")
    tool_choice: Any = None
    response_format: dict[str, Any] | None = Field(None, description="only {'type': 'text'}")
    logprobs: bool | None = None


class ResponseMessage(BaseModel):
    role: str = "assistant"
    content: str
    refusal: str | None = Field(None, description="when the documents do not answer: why (also in `content`)")


class Choice(BaseModel):
    index: int = 0
    message: ResponseMessage
    finish_reason: str = "stop"


class CompletionUsage(BaseModel):
    """Tokens of every LLM call made for the answer (the rewrite, the reply, its checks), as the LLM reported them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatCompletion(BaseModel):
    """An OpenAI `chat.completion`, plus `sources` (the cited passages) and `refused`."""

    id: str
    object: str = "chat.completion"
    created: int
    model: str = MODEL_ID
    choices: list[Choice]
    usage: CompletionUsage = Field(default_factory=CompletionUsage)
    sources: list[Citation] = Field(default_factory=list, description="the passages the answer cites")
    refused: bool = False
    standalone_question: str | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "chatcmpl-3f0c2a9b6d1e4c7a",
                    "object": "chat.completion",
                    "created": 1732447212,
                    "model": MODEL_ID,
                    "choices": [
                        {
                            "index": 0,
                            "message": {
                                "role": "assistant",
                                "content": "Serbia would import gas from Azerbaijan [2].\n\nSources:\n"
                                "[2] 000_e525b34afe8532cd.txt, line 5: “In the first place is energy cooperation. "
                                "On the one hand, there is the idea of a joint project…”",
                            },
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 1480, "completion_tokens": 52, "total_tokens": 1532},
                    "sources": [],
                    "refused": False,
                    "standalone_question": "What does Serbia want to import from Azerbaijan?",
                }
            ]
        }
    )


class Model(BaseModel):
    id: str
    object: str = "model"
    created: int
    owned_by: str = "seedrag"


class ModelList(BaseModel):
    object: str = "list"
    data: list[Model]


def chunk(completion_id: str, created: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    """One `chat.completion.chunk` of a streamed answer."""
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": MODEL_ID,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
