"""What OpenAI clients expect of /v1/chat/completions and /v1/models (issue 19, 7 and 9), asked with the
`openai` package over real HTTP: `usage`, models.retrieve, request fields honoured or refused, never dropped,
and a refusal a client can see. (The other client libraries: tests/test_clients.py.)"""

from __future__ import annotations

import openai

from tests.api_support import QUESTION
from tests.conftest import LiveServer
from tests.fakes.openai_server import FakeOpenAI

ASK = [{"role": "user", "content": QUESTION}]


def client(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=30)


def prompt_words(fake: FakeOpenAI) -> int:
    return sum(len(str(m.get("content") or "").split()) for r in fake.requests for m in r["messages"])


# --- 7: usage ---------------------------------------------------------------------------------------------------
def test_usage_is_what_the_llm_reported_for_every_call_of_the_answer(live: LiveServer, fake_llm: FakeOpenAI) -> None:
    done = client(live).chat.completions.create(model="seedrag", messages=ASK)  # type: ignore[arg-type]
    assert done.usage is not None
    assert len(fake_llm.requests) >= 2  # the reply and its support check: both counted
    assert done.usage.prompt_tokens == prompt_words(fake_llm)
    assert done.usage.completion_tokens > 0
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens


def test_a_stream_carries_usage_only_when_asked(live: LiveServer, fake_llm: FakeOpenAI) -> None:
    c = client(live)
    plain = c.chat.completions.create(model="seedrag", messages=ASK)  # type: ignore[arg-type]
    asked = list(
        c.chat.completions.create(
            model="seedrag",
            messages=ASK,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    last = asked[-1]
    assert last.choices == [] and last.usage is not None
    assert plain.usage is not None and last.usage.model_dump() == plain.usage.model_dump()
    assert all(ch.usage is None for ch in asked[:-1])
    quiet = list(c.chat.completions.create(model="seedrag", messages=ASK, stream=True))  # type: ignore[arg-type]
    assert all(ch.usage is None for ch in quiet) and quiet[-1].choices[0].finish_reason == "stop"
