"""The LLM, always through the `openai` package: a configured OpenAI-compatible server, or the local
llama.cpp server (started and shared by rag/llm/local.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import httpx
import openai
from openai.types.chat import ChatCompletionChunk

from rag.config import Settings
from rag.llm.model_files import MODEL_NAME

log = logging.getLogger(__name__)


class LLMError(RuntimeError):
    """The LLM could not answer. The message names the server and the cause and says what to do."""

    def __init__(self, message: str, server: str, cause: str) -> None:
        super().__init__(message)
        self.server = server
        self.cause = cause


@dataclass
class LLM:
    client: openai.OpenAI
    model: str
    base_url: str
    local: bool
    max_tokens: int = 400
    temperature: float = 0.0
    # Set once a server has refused `response_format`: later calls go plain at once instead of failing first.
    plain_only: bool = False

    def chat(self, messages: list[dict[str, str]], max_tokens: int | None = None) -> str:
        try:
            resp = self.client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=max_tokens or self.max_tokens,
                temperature=self.temperature,
            )
        except openai.OpenAIError as e:
            raise self._error(e) from e
        return resp.choices[0].message.content or ""

    def stream(self, messages: list[dict[str, str]], response_format: dict[str, Any] | None = None) -> Iterator[str]:
        """The reply's text as it is written. With `response_format` (a JSON schema), servers that support it
        constrain the reply to it; one that rejects it (HTTP 400/422) is asked again without, and remembered."""
        extra: dict[str, Any] = {}
        if response_format is not None and not self.plain_only:
            extra["response_format"] = response_format
        try:
            stream = cast(
                openai.Stream[ChatCompletionChunk],
                self.client.chat.completions.create(
                    model=self.model,
                    messages=messages,  # type: ignore[arg-type]
                    max_tokens=self.max_tokens,
                    temperature=self.temperature,
                    stream=True,
                    **extra,
                ),
            )
        except (openai.BadRequestError, openai.UnprocessableEntityError) as e:
            if not extra:
                raise self._error(e) from e
            log.warning("LLM server at %s refused response_format (%s); using plain text from now on", self.base_url, e)
            self.plain_only = True
            yield from self.stream(messages)
            return
        except (openai.OpenAIError, httpx.HTTPError) as e:
            raise self._error(e) from e
        try:
            # Closing the response when the consumer stops early (a user's Stop button, a client gone)
            # drops the connection, which tells llama.cpp to stop generating.
            with stream:
                for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        yield chunk.choices[0].delta.content
        # A server that dies mid-answer surfaces as httpx's error, which the SDK does not wrap while streaming.
        except (openai.OpenAIError, httpx.HTTPError) as e:
            raise self._error(e) from e

    def ping(self, timeout: float = 2.0) -> str | None:
        """None when the server answers its model list, else the reason it does not."""
        try:
            self.client.with_options(timeout=timeout, max_retries=0).models.list()
            return None
        except openai.OpenAIError as e:
            return str(self._error(e))

    def _error(self, e: Exception) -> LLMError:
        where = f"LLM server at {self.base_url}"
        hint = (
            "start it with 'rag serve' (or 'make run'), or set OPENAI_BASE_URL"
            if self.local
            else "check OPENAI_BASE_URL and that the server is up"
        )
        if isinstance(e, openai.APITimeoutError):
            cause = "timed out"
            msg = f"{where} did not answer in time (RAG_LLM_TIMEOUT); it may be overloaded: try again"
        elif isinstance(e, openai.APIConnectionError):
            cause = f"unreachable ({e.__cause__ or e})"
            msg = f"{where} is unreachable ({e.__cause__ or e}); {hint}"
        elif isinstance(e, openai.AuthenticationError):
            cause = f"rejected the API key (HTTP {e.status_code})"
            msg = f"{where} rejected the API key (HTTP 401): {e.message}; check OPENAI_API_KEY"
        elif isinstance(e, openai.NotFoundError):
            cause = f"model not found (HTTP {e.status_code})"
            msg = f"{where} does not know model '{self.model}' (HTTP 404); set RAG_LLM_MODEL"
        elif isinstance(e, openai.APIStatusError):
            cause = f"HTTP {e.status_code}"
            msg = f"{where} answered HTTP {e.status_code}: {e.message}"
        else:
            cause = type(e).__name__
            msg = f"{where} failed: {e}"
        return LLMError(msg, self.base_url, cause)


def local_base_url(settings: Settings) -> str:
    return f"http://{settings.local_llm_host}:{settings.local_llm_port}/v1"


def make_llm(settings: Settings) -> LLM:
    if settings.uses_local_llm:
        base_url, key, model, local = local_base_url(settings), "local", MODEL_NAME, True
    else:
        base_url = settings.llm_base_url or "https://api.openai.com/v1"
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "none"
        model, local = settings.llm_model or "gpt-4o-mini", False
    client = openai.OpenAI(
        base_url=base_url, api_key=key, timeout=settings.llm_timeout, max_retries=settings.llm_retries
    )
    return LLM(client, settings.llm_model or model, base_url, local, settings.llm_max_tokens, settings.llm_temperature)
