"""A plain one-sentence lookup on the seed article, answered with its citation on every surface (issue 22).

One `rag serve` process, as a user runs it after `make run`: no OPENAI_* settings, so it starts the real local
model (llama.cpp) itself, on a port of its own; the seed article ingested with `rag ingest`; Slack configured
against a fake Slack Web API over real HTTP (tests/fakes/slack_api.py). The same question is then asked on the
JSON API, the OpenAI-compatible endpoint (plain and streamed, through the `openai` package), the chat page (in
Debian's chromium) and in Slack (a signed app_mention). Each surface must show the fact, "oil", with a
citation marker that names a passage holding it: the checked answer, not a draft that was later withheld.

The local model takes tens of seconds per answer on a small machine: timeouts are generous, nothing is timed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI
from playwright.sync_api import Browser, expect, sync_playwright

from api.openai_schemas import MODEL_ID
from api.routes.chat_completions import CHECKED_HEADING, SOURCES_HEADING
from api.slack.format import WORKING, WRITING_NOTE
from tests.conftest import ROOT, SEEDS, free_port
from tests.fakes.slack_api import BOT_USER, FakeSlack
from tests.servers import RagServe
from tests.test_chat_page import CHROMIUM, FLAGS, ask, last_answer
from tests.test_slack import block_text, event_body, signature

QUESTION = "Apart from gas, which Azerbaijani resource is Serbia interested in importing?"
FACT = "oil"
ANSWER_S = 300.0  # one answer by the local model on a busy 2-core machine: tens of seconds, rarely minutes
SLACK_SECRET = "0d3e5a1c9b7f24e6a8c1d2e3f4a5b6c7"
SLACK_TOKEN = "xoxb-seed-lookup-token"
SEED_NAME = next(SEEDS.iterdir()).name
SEED_TEXT = next(SEEDS.iterdir()).read_text(encoding="utf-8")
# Per test, the server's start (the model loaded, the article ingested) included in the first one's.
pytestmark = pytest.mark.timeout(1800)
MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def markers(text: str) -> set[int]:
    """The passage numbers an answer cites: [1], [1][3] and [1, 3] alike."""
    return {int(n) for group in MARKER.findall(text) for n in group.split(",")}


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, slack: FakeSlack) -> Iterator[RagServe]:
    """`rag ingest seeds/` then `rag serve` in a folder holding seeds/, as `make run` does in a checkout; the
    local model is started by the server, on a free port."""
    tmp = tmp_path_factory.mktemp("seed-lookup")
    shutil.copytree(SEEDS, tmp / "seeds")
    # No OPENAI_* (nor RAG_LLM_*) settings: the default, the local model.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_", "SLACK_"))}
    llm_port = free_port()
    env |= {
        "RAG_DATA_DIR": str(tmp / "data"),
        "RAG_PROMPTS_DIR": str(ROOT / "prompts"),  # this checkout's prompts, whatever seedrag is installed
        # A port of our own: the default 8081 may be held by another model on a shared machine.
        "RAG_LOCAL_LLM_PORT": str(llm_port),
        "RAG_LLM_TIMEOUT": str(ANSWER_S),
        "RAG_QUEUE_TIMEOUT": str(ANSWER_S),
        "SLACK_BOT_TOKEN": SLACK_TOKEN,
        "SLACK_SIGNING_SECRET": SLACK_SECRET,
        "RAG_SLACK_API_URL": slack.base_url,
    }
    ingest = subprocess.run(
        [sys.executable, "-m", "rag", "ingest", "--quiet", "seeds/"],
        env=env,
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    rag = RagServe(env, tmp, tmp / "serve.log")
    try:
        rag.wait_healthy(timeout=600)  # the local model is loaded before the API listens
        log = rag.log.read_text()
        assert httpx.get(f"http://127.0.0.1:{llm_port}/health", timeout=10).status_code == 200, log
        assert "LLM: " not in log, log  # no remote LLM named: the server's own model answers
        assert "Slack: answering at POST /slack/events" in log
        yield rag
    finally:
        rag.stop()
        print(rag.log.read_text()[-4000:])  # the server's side of a failure, in pytest's report


# 1. POST /v1/ask ----------------------------------------------------------------------------------------------
def test_the_json_api_answers_with_a_citation_quoting_the_sentence(server: RagServe) -> None:
    """Sources are shown relative to the server's working directory (seeds/…): read from there."""
    r = httpx.post(f"{server.url}/v1/ask", json={"question": QUESTION}, timeout=ANSWER_S)
    assert r.status_code == 200, r.text
    body = r.json()
    assert not body["refused"], (body["answer"], body["checks"])
    assert FACT in body["answer"].lower(), body["answer"]
    cited = {c["id"]: c for c in body["citations"]}
    named = markers(body["answer"])
    assert named and named <= set(cited), (body["answer"], sorted(cited))
    holding = [cited[n] for n in named if FACT in cited[n]["text"].lower()]
    assert holding, (body["answer"], [c["text"] for c in body["citations"]])
    for c in holding:
        assert c["source"] == f"seeds/{SEED_NAME}"
        source = (server.cwd / c["source"]).read_text(encoding="utf-8")
        assert source[c["start"] : c["end"]] == c["text"]
        quote = c["quote"]
        assert quote is not None, c
        assert c["start"] <= quote["start"] < quote["end"] <= c["end"]
        assert source[quote["start"] : quote["end"]] == quote["text"]  # exact, located in the file
    assert any(FACT in c["quote"]["text"].lower() for c in holding), [c["quote"] for c in holding]


# 2. POST /v1/chat/completions through the openai package --------------------------------------------------------
def checked_answer(content: str) -> str:
    """The answer a client is left with: the words before the sources list, or, when the check changed what
    was streamed, the checked answer sent after them."""
    answer = content.split(SOURCES_HEADING)[0]
    return answer.split(CHECKED_HEADING)[-1]


def assert_cited(answer: str, sources: list[dict[str, Any]]) -> None:
    assert FACT in answer.lower(), answer
    by_id = {s["id"]: s for s in sources}
    named = markers(answer)
    assert named and named <= set(by_id), (answer, sorted(by_id))
    assert any(FACT in by_id[n]["text"].lower() for n in named), (answer, [s["text"] for s in sources])
    for s in sources:
        assert SEED_TEXT[s["start"] : s["end"]] == s["text"]


@pytest.fixture(scope="module")
def openai_client(server: RagServe) -> OpenAI:
    return OpenAI(base_url=f"{server.url}/v1", api_key="unused-on-loopback", timeout=ANSWER_S, max_retries=0)


def test_the_openai_endpoint_answers_with_a_citation(openai_client: OpenAI) -> None:
    completion = openai_client.chat.completions.create(model=MODEL_ID, messages=[{"role": "user", "content": QUESTION}])
    extra = completion.model_extra or {}
    content = completion.choices[0].message.content or ""
    assert extra["refused"] is False, content
    assert SOURCES_HEADING in content and f"{SEED_NAME} (" in content, content
    assert_cited(checked_answer(content), extra["sources"])


def test_the_openai_stream_ends_with_a_cited_checked_answer(openai_client: OpenAI) -> None:
    stream = openai_client.chat.completions.create(
        model=MODEL_ID, messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    pieces, last = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        last = chunk
    assert last is not None and last.choices[0].finish_reason == "stop"
    extra = last.model_extra or {}
    content = "".join(pieces)
    assert extra["refused"] is False, content
    assert len(pieces) > 2, pieces  # streamed, not sent whole
    assert_cited(checked_answer(content), extra["sources"])


# 3. The chat page in chromium -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium ('make browser' or apt-get install -y chromium)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


def test_the_chat_page_shows_the_checked_answer_and_its_passage(server: RagServe, browser: Browser) -> None:
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        page.set_default_timeout(30_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url + "/")
        expect(page.locator("#doc-list")).to_contain_text(SEED_NAME)
        ask(page, QUESTION)
        bot = last_answer(page, timeout=ANSWER_S * 1000)
        answer = bot.locator(".answer")
        # Finished and checked: not greyed as unchecked, not withheld, not failed.
        expect(answer).not_to_have_class(re.compile(r"\bunchecked\b"))
        expect(bot).not_to_have_class(re.compile(r"\b(refused|failed|stopped)\b"))
        expect(answer).to_contain_text(FACT)
        expect(bot.locator(".sources")).to_contain_text(SEED_NAME)
        cites = answer.locator("button.cite")
        assert cites.count() >= 1, answer.inner_text()

        opened = []
        for i in range(cites.count()):
            cites.nth(i).click()
            dialog = page.get_by_role("dialog")
            expect(dialog).to_be_visible()
            expect(dialog.locator("#passage-title")).to_contain_text(SEED_NAME)
            passage = dialog.locator("#passage-text").inner_text().strip()
            marked = dialog.locator("#passage-text mark.quote")
            opened.append((passage, marked.inner_text().strip() if marked.count() else ""))
            page.keyboard.press("Escape")
            expect(dialog).to_be_hidden()
        for passage, marked in opened:
            assert len(passage) > 50 and passage in SEED_TEXT, passage  # the document's own words
            assert not marked or marked in passage
        # The citation opens the passage that holds the fact, with the sentence stating it marked.
        assert any(FACT in passage.lower() and FACT in marked.lower() for passage, marked in opened), opened
        assert errors == []
    finally:
        ctx.close()


# 4. Slack over HTTP -----------------------------------------------------------------------------------------
def test_slack_leaves_the_cited_answer_as_the_bots_last_word(server: RagServe, slack: FakeSlack) -> None:
    channel = "CSEED001"
    text = f"<@{BOT_USER}> {QUESTION}"
    ts = slack.add_user_message(channel, text)
    body = json.dumps(
        event_body({"type": "app_mention", "user": "UHUMAN01", "text": text, "ts": ts, "channel": channel})
    ).encode()
    now = int(time.time())
    r = httpx.post(
        f"{server.url}/slack/events",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": str(now),
            "X-Slack-Signature": signature(body, now, SLACK_SECRET),
        },
        timeout=30,
    )
    assert r.status_code == 200, r.text

    def delivered() -> bool:
        # The bot's final message carries blocks (the answer, its sources, the feedback buttons); the drafts
        # written while the answer streams are plain text updates of the placeholder.
        finals = [c for c in slack.calls_to("chat.update") + slack.calls_to("chat.postMessage") if "blocks" in c.args]
        return any(c.args.get("channel") == channel for c in finals)

    slack.wait_for(delivered, timeout=ANSWER_S)
    # Nothing more comes after it: the thread is left as it is now.
    calls = len(slack.calls)
    time.sleep(4)  # longer than RAG_SLACK_UPDATE_SECONDS, the interval between drafts
    assert len(slack.calls) == calls, [c.method for c in slack.calls[calls:]]
    assert all(c.token == SLACK_TOKEN for c in slack.calls)

    thread = slack.messages[channel]
    ours = sorted((m for m in thread if m.get("user") == BOT_USER), key=lambda m: float(m["ts"]))
    assert ours and all(m.get("thread_ts") == ts for m in ours), ours
    last = ours[-1]
    said = last.get("text", "")
    assert said != WORKING and not said.endswith(WRITING_NOTE), said  # not the placeholder, not a draft
    assert FACT in said.lower(), said
    named = markers(said)
    assert named, said
    shown = block_text(last)
    assert "*Sources*" in shown and f"`{SEED_NAME}`" in shown, shown
    # Each source is a line "*[n]* `name` · where" followed by the quoted sentence; one cited holds the fact.
    quoted = re.findall(r"\*\[(\d+)\]\*[^\n]*\n([^\n]*)", shown)
    assert any(int(n) in named and FACT in q.lower() for n, q in quoted), shown
