"""The LLM, always through the `openai` package: a configured OpenAI-compatible server, or the local
llama.cpp server (started and shared by rag/llm/local.py)."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, cast

import httpx
import openai
from openai.types.chat import ChatCompletionChunk

from rag.config import Settings, public_url
from rag.llm.model_files import MODEL_NAME

log = logging.getLogger(__name__)


class LLMError(RuntimeError):
    """The LLM could not answer. The message names the server and the cause and says what to do."""

    def __init__(self, message: str, server: str, cause: str) -> None:
        super().__init__(message)
        self.server = server
        self.cause = cause


@dataclass
class Usage:
    """Tokens as the LLM server reported them, added up over the calls of one answer."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, reported: Any) -> None:
        """Add an OpenAI `usage` object (or None: a server that reports nothing adds nothing)."""
        if reported is not None:
            self.prompt_tokens += int(getattr(reported, "prompt_tokens", 0) or 0)
            self.completion_tokens += int(getattr(reported, "completion_tokens", 0) or 0)

    def to_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass
class Quirks:
    """What one server turned out not to support; shared by every metered view of its client."""

    # Set once a server has refused `response_format` (or `stream_options`): later calls go plain at once.
    plain_only: bool = False


@dataclass
class LLM:
    client: openai.OpenAI
    model: str
    base_url: str
    local: bool
    max_tokens: int = 400
    temperature: float = 0.0
    quirks: Quirks = field(default_factory=Quirks)
    usage: Usage | None = None  # set on a metered view: its calls' reported tokens are added here

    @property
    def plain_only(self) -> bool:
        return self.quirks.plain_only

    def metered(self) -> LLM:
        """A view of this client (same connection, same quirks) that adds up the tokens its calls use."""
        return replace(self, usage=Usage())

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
        if self.usage is not None:
            self.usage.add(resp.usage)
        return resp.choices[0].message.content or ""

    def stream(self, messages: list[dict[str, str]], response_format: dict[str, Any] | None = None) -> Iterator[str]:
        """The reply's text as it is written. With `response_format` (a JSON schema), servers that support it
        constrain the reply to it; one that rejects it (HTTP 400/422) is asked again without, and remembered."""
        extra: dict[str, Any] = {}
        if not self.plain_only:
            # The usage chunk at the end of the stream, as OpenAI sends it only when asked.
            extra["stream_options"] = {"include_usage": True}
            if response_format is not None:
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
            log.warning(
                "LLM server at %s refused %s (%s); using plain requests from now on", self.where, ", ".join(extra), e
            )
            self.quirks.plain_only = True
            yield from self.stream(messages)
            return
        except (openai.OpenAIError, httpx.HTTPError) as e:
            raise self._error(e) from e
        try:
            # Closing the response when the consumer stops early (a user's Stop button, a client gone)
            # drops the connection, which tells llama.cpp to stop generating.
            with stream:
                for chunk in stream:
                    if self.usage is not None and chunk.usage is not None:
                        self.usage.add(chunk.usage)
                    if chunk.choices and chunk.choices[0].delta.content:
                        yield chunk.choices[0].delta.content
        # A server that dies mid-answer surfaces as httpx's error, which the SDK does not wrap while streaming.
        except (openai.OpenAIError, httpx.HTTPError) as e:
            raise self._error(e) from e

    def yes_probability(self, messages: list[dict[str, str]]) -> float | None:
        """P(yes) of a one-word yes/no reply, from the server's token log-probabilities (llama.cpp and OpenAI
        both return them): a calibrated score rather than a word. A server that gives none is judged by the
        word it wrote (1.0 / 0.0); None when it wrote neither."""
        try:
            resp = self.client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=1,
                temperature=0.0,
                logprobs=True,
                top_logprobs=10,
            )
        except openai.OpenAIError as e:
            raise self._error(e) from e
        if self.usage is not None:
            self.usage.add(resp.usage)
        choice = resp.choices[0]
        yes = no = 0.0
        content = choice.logprobs.content if choice.logprobs and choice.logprobs.content else []
        for top in content[0].top_logprobs if content else []:
            word = top.token.strip().lower()
            if word == "yes":
                yes += math.exp(top.logprob)
            elif word == "no":
                no += math.exp(top.logprob)
        if yes + no > 0:
            return yes / (yes + no)
        word = (choice.message.content or "").strip().lower()
        return 1.0 if word.startswith("yes") else 0.0 if word.startswith("no") else None

    def ping(self, timeout: float = 2.0) -> str | None:
        """None when the server answers its model list, else the reason it does not."""
        try:
            self.client.with_options(timeout=timeout, max_retries=0).models.list()
            return None
        except openai.OpenAIError as e:
            return str(self._error(e))

    @property
    def where(self) -> str:
        """The server as errors and logs name it: its URL without credentials."""
        return public_url(self.base_url)

    def _error(self, e: Exception) -> LLMError:
        where = f"LLM server at {self.where}"
        hint = (
            "start it with 'rag serve' (or 'make run'), or set RAG_LLM_BASE_URL"
            if self.local
            else "check RAG_LLM_BASE_URL (or OPENAI_BASE_URL) and that the server is up"
        )
        if isinstance(e, openai.APITimeoutError):
            cause = "timed out"
            msg = f"{where} did not answer in time (RAG_LLM_TIMEOUT); it may be overloaded: try again"
        elif isinstance(e, openai.APIConnectionError):
            cause = f"unreachable ({e.__cause__ or e})"
            msg = f"{where} is unreachable ({e.__cause__ or e}); {hint}"
        elif isinstance(e, openai.AuthenticationError):
            cause = f"rejected the API key (HTTP {e.status_code})"
            msg = f"{where} rejected the API key (HTTP 401): {e.message}; check RAG_LLM_API_KEY (or OPENAI_API_KEY)"
        elif isinstance(e, openai.NotFoundError):
            cause = f"model not found (HTTP {e.status_code})"
            msg = f"{where} does not know model '{self.model}' (HTTP 404); set RAG_LLM_MODEL"
        elif isinstance(e, openai.APIStatusError):
            cause = f"HTTP {e.status_code}"
            msg = f"{where} answered HTTP {e.status_code}: {e.message}"
        else:
            cause = type(e).__name__
            msg = f"{where} failed: {e}"
        # The server's own words (and an httpx error) may repeat the URL it was called with, credentials and all.
        secret = _userinfo(self.base_url)
        if secret:
            msg, cause = msg.replace(secret, "****"), cause.replace(secret, "****")
        return LLMError(msg, self.where, cause)


def _userinfo(url: str) -> str:
    netloc = url.split("://", 1)[-1].split("/", 1)[0]
    return netloc.rpartition("@")[0]


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
