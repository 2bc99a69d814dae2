"""/v1/ask and /v1/chat/completions hold a conversation's messages to the same limit, the one the setting
names (issue 19, 6): RAG_MAX_MESSAGE_CHARS, refused with 413 and the setting's name, on both routes."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from rag.pipeline import Pipeline
from tests.api_support import QUESTION, serve_api
from tests.conftest import SEEDS


def history(chars: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": "Tell me about gas. " + "x" * (chars - 19)}]


def ask(url: str, chars: int) -> httpx.Response:
    return httpx.post(f"{url}/v1/ask", json={"question": QUESTION, "history": history(chars)}, timeout=30)


def chat(url: str, chars: int) -> httpx.Response:
    messages = [*history(chars), {"role": "user", "content": QUESTION}]
    return httpx.post(f"{url}/v1/chat/completions", json={"messages": messages}, timeout=30)


@pytest.mark.parametrize("send", [ask, chat], ids=["ask", "chat"])
def test_a_history_message_is_held_to_the_setting_with_413(
    pipeline: Pipeline, send: Callable[[str, int], httpx.Response]
) -> None:
    pipeline.ingestor.ingest([SEEDS])
    with serve_api(pipeline, max_message_chars=30_000) as api:
        assert send(api.url, 25_000).status_code == 200  # over the old fixed 20,000 of /v1/ask, under the setting
        r = send(api.url, 30_001)
        assert r.status_code == 413 and "RAG_MAX_MESSAGE_CHARS" in r.json()["error"]["message"], r.text
    with serve_api(pipeline, max_message_chars=500) as api:
        r = send(api.url, 501)
        assert r.status_code == 413 and "the limit is 500 (RAG_MAX_MESSAGE_CHARS)" in r.json()["error"]["message"]
