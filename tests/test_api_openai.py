"""POST /v1/chat/completions and GET /v1/models, called by the `openai` package itself over real HTTP."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from rag.index.embeddings import MiniLMEmbedder
from rag.pipeline import Pipeline, build
from tests.api_support import QUESTION, BrokenStreamLLM, serve_api
from tests.conftest import SEEDS, LiveServer, make_settings
from tests.fakes.openai_server import FakeOpenAI


def client(server: LiveServer, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=30)


def test_plain_completion_has_sources_in_text_and_as_data(live: LiveServer) -> None:
    c = client(live)
    done = c.chat.completions.create(model="seedrag", messages=[{"role": "user", "content": QUESTION}])
    assert done.object == "chat.completion" and done.model == "seedrag"
    text = done.choices[0].message.content or ""
    answer, _, listing = text.partition("\n\nSources:\n")
    assert listing, text
    sources = done.sources  # type: ignore[attr-defined]  # our extra field, kept by the SDK
    assert sources and done.refused is False  # type: ignore[attr-defined]
    lines = listing.splitlines()
    assert len(lines) == len(sources)
    for line, s in zip(lines, sources, strict=True):
        assert f"[{s['id']}]" in answer
        assert line.startswith(f"[{s['id']}] {s['name']} (line ")
        assert Path(s["source"]).read_text(encoding="utf-8")[s["start"] : s["end"]] == s["text"]
    assert [m.id for m in c.models.list()] == ["seedrag"]


def test_streamed_completion_matches_the_plain_one(live: LiveServer) -> None:
    c = client(live)
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": QUESTION},
    ]
    plain = c.chat.completions.create(model="seedrag", messages=messages)
    chunks = list(c.chat.completions.create(model="seedrag", messages=messages, stream=True))
    assert all(ch.object == "chat.completion.chunk" for ch in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len(chunks) > 4  # word by word, not one blob
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks)
    assert text == plain.choices[0].message.content
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.sources == plain.sources  # type: ignore[attr-defined]


def test_earlier_messages_are_the_history(live: LiveServer, fake_llm: FakeOpenAI) -> None:
    c = client(live)
    first = c.chat.completions.create(model="seedrag", messages=[{"role": "user", "content": QUESTION}])
    previous = first.choices[0].message.content or ""
    follow_up = c.chat.completions.create(
        model="seedrag",
        messages=[
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": previous},
            {"role": "user", "content": "and what about oil?"},
        ],
    )
    standalone = follow_up.standalone_question  # type: ignore[attr-defined]
    assert standalone.startswith("and what about oil?") and "Azerbaijan" in standalone
    condense = next(
        r["messages"][-1]["content"] for r in fake_llm.requests if "Last question:" in r["messages"][-1]["content"]
    )
    assert "Standalone question:" in condense
    assert "Sources:" not in condense  # our own source list is not fed back as conversation


def test_check_changes_after_streaming_are_shown(live: LiveServer, fake_llm: FakeOpenAI) -> None:
    fake_llm.reply = "Serbia would import gas from Azerbaijan [1] [99]."  # [99] names no passage
    c = client(live)
    chunks = list(
        c.chat.completions.create(model="seedrag", messages=[{"role": "user", "content": QUESTION}], stream=True)
    )
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks)
    assert text.startswith("Serbia would import gas from Azerbaijan [1] [99].")  # what the model wrote
    assert "\n\nChecked answer: " in text and "[99]" not in text.split("Checked answer: ")[1]


def test_a_citation_only_added_by_the_check_needs_no_note(live: LiveServer, fake_llm: FakeOpenAI) -> None:
    fake_llm.reply = "Serbia would import gas from Azerbaijan, then produce electricity."  # no marker
    c = client(live)
    chunks = list(
        c.chat.completions.create(model="seedrag", messages=[{"role": "user", "content": QUESTION}], stream=True)
    )
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks)
    assert "Checked answer" not in text
    answer, _, listing = text.partition("\n\nSources:\n")
    assert answer == "Serbia would import gas from Azerbaijan, then produce electricity."
    assert listing.startswith("[") and chunks[-1].sources  # type: ignore[attr-defined]
    assert "““" not in listing  # a passage that opens with a quote mark is not quoted twice


def test_last_message_must_be_the_question(live: LiveServer) -> None:
    with pytest.raises(openai.UnprocessableEntityError, match="last message must be the user's question"):
        client(live).chat.completions.create(
            model="seedrag", messages=[{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "x"}]
        )


def test_llm_down_is_an_http_error_the_sdk_raises(live: LiveServer, fake_llm: FakeOpenAI) -> None:
    fake_llm.status = 500
    c = client(live)
    for stream in (False, True):
        with pytest.raises(openai.APIStatusError) as err:
            result = c.chat.completions.create(
                model="seedrag", messages=[{"role": "user", "content": QUESTION}], stream=stream
            )
            list(result) if stream else None  # type: ignore[call-overload]
        assert err.value.status_code == 502
        body = err.value.response.json()
        assert body["error"]["type"] == "llm_unavailable" and "HTTP 500" in body["error"]["message"]
        assert body["passages"]  # what retrieval found, for a client that wants to show it anyway


def test_model_failing_mid_stream_raises_in_the_client(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    with BrokenStreamLLM() as broken:
        pipe: Pipeline = build(make_settings(tmp_path / "data", broken.base_url), embedder=embedder)
        pipe.ingestor.ingest([SEEDS])
        try:
            with serve_api(pipe) as api:
                words = []
                stream = client(api).chat.completions.create(
                    model="seedrag", messages=[{"role": "user", "content": QUESTION}], stream=True
                )
                with pytest.raises(openai.APIError, match="incomplete"):
                    for ch in stream:
                        words.append(ch.choices[0].delta.content or "")
                assert "".join(words) == "".join(BrokenStreamLLM.WORDS)
        finally:
            pipe.close()


def test_the_sdk_sends_the_api_key(seeded_live_with_key: tuple[LiveServer, str]) -> None:
    server, key = seeded_live_with_key
    with pytest.raises(openai.AuthenticationError):
        client(server, "wrong").models.list()
    done = client(server, key).chat.completions.create(
        model="seedrag", messages=[{"role": "user", "content": QUESTION}]
    )
    assert done.sources  # type: ignore[attr-defined]


@pytest.fixture
def seeded_live_with_key(pipeline: Pipeline):  # type: ignore[no-untyped-def]
    pipeline.ingestor.ingest([SEEDS])
    with serve_api(pipeline, api_keys="sdk-key") as server:
        yield server, "sdk-key"
