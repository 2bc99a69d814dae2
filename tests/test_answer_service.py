"""One answer service behind every surface: Slack and chat completions wait at the same generation gate as
/v1/ask, and their answers are remembered (so they can be rated) and counted in /metrics.

The fake LLM holds its chat calls until released, so the tests see what overlapped rather than timing it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest

from rag.pipeline import Pipeline
from tests import test_slack
from tests.api_support import QUESTION, serve_api
from tests.conftest import SEEDS
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import BOT_USER
from tests.test_slack import Env, answered, block_text, mention, send_event

# The Slack tests' fixtures: the real app with a signing secret, a fake Slack Web API, the seeds ingested.
env, fake_slack, slack_pipeline = test_slack.env, test_slack.fake_slack, test_slack.slack_pipeline


def wait_until(fake: FakeOpenAI, check: Any) -> None:
    done = threading.Event()
    for _ in range(600):
        if check():
            return
        done.wait(0.05)
    raise AssertionError("the condition never held")


def metric(url: str, line_start: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.parametrize("slack_pipeline", [{"max_generations": 1, "max_queued": 10}], indirect=True)
def test_slack_mentions_wait_at_the_generation_gate(env: Env) -> None:
    env.llm.hold = threading.Event()
    channels = [f"C10{i}" for i in range(5)]
    for channel in channels:  # all five acknowledged while the first answer is still being written
        assert send_event(env, mention(env, channel, f"<@{BOT_USER}> {QUESTION}")).status_code == 200
    wait_until(env.llm, lambda: env.llm.in_flight >= 1)
    env.llm.hold.set()
    for channel in channels:
        assert "Azerbaijan" in answered(env, channel)["text"]
    assert env.llm.most_in_flight == 1  # one slot: the five questions were written one after another
    assert metric(env.url, 'seedrag_answers_total{outcome="answered"}') == 5


@pytest.mark.parametrize("slack_pipeline", [{"max_generations": 1, "max_queued": 1}], indirect=True)
def test_slack_mentions_past_the_queue_are_told_the_server_is_busy(env: Env) -> None:
    env.llm.hold = threading.Event()
    channels = ["C201", "C202", "C203", "C204"]
    for channel in channels:
        assert send_event(env, mention(env, channel, f"<@{BOT_USER}> {QUESTION}")).status_code == 200
    wait_until(env.llm, lambda: env.llm.in_flight >= 1)
    env.llm.hold.set()
    replies = [answered(env, channel) for channel in channels]
    busy = [r for r in replies if "busy" in r["text"]]
    assert len(busy) == 2, [r["text"] for r in replies]  # one written, one queued, two turned away at once
    assert all("Azerbaijan" in r["text"] for r in replies if r not in busy)


def test_chat_completions_wait_at_the_gate_and_are_remembered_and_counted(
    pipeline: Pipeline, fake_llm: FakeOpenAI
) -> None:
    pipeline.ingestor.ingest([SEEDS])
    with serve_api(pipeline, max_generations=1, max_queued=10) as api:
        client = openai.OpenAI(base_url=f"{api.url}/v1", api_key="unused", max_retries=0, timeout=60)
        messages: Any = [{"role": "user", "content": QUESTION}]
        fake_llm.hold = threading.Event()
        with ThreadPoolExecutor(4) as pool:
            plain = [pool.submit(client.chat.completions.create, model="seedrag", messages=messages) for _ in range(3)]
            streamed = pool.submit(
                lambda: list(client.chat.completions.create(model="seedrag", messages=messages, stream=True))
            )
            wait_until(fake_llm, lambda: fake_llm.in_flight >= 1)
            fake_llm.hold.set()
            completions = [f.result() for f in plain]
            chunks = streamed.result()
        assert fake_llm.most_in_flight == 1
        assert metric(api.url, 'seedrag_answers_total{outcome="answered"}') == 4
        # Each completion's id names the remembered answer: it can be rated like a /v1/ask answer.
        for completion_id in [completions[0].id, chunks[-1].id]:
            vote = {"answer_id": completion_id, "rating": "helpful"}
            r = httpx.post(f"{api.url}/v1/feedback", json=vote, timeout=10)
            assert r.status_code == 200, r.text
        listed = httpx.get(f"{api.url}/v1/feedback", timeout=10).json()["feedback"]
        assert {f["surface"] for f in listed} == {"openai"} and listed[0]["question"] == QUESTION


def test_a_too_long_slack_question_is_refused_by_the_same_limit(env: Env) -> None:
    long = "word " * (env.settings.max_question_chars // 5 + 10)
    send_event(env, mention(env, "C301", f"<@{BOT_USER}> {long}"))
    reply = answered(env, "C301")
    assert "characters" in block_text(reply) or "characters" in reply["text"]
    assert not env.llm.requests
