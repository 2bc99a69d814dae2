"""The Slack bot end to end over real HTTP: the real app under uvicorn, signed requests as Slack sends them,
the real slack_sdk client talking to a fake Slack Web API on 127.0.0.1, and the fake LLM."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from api.slack.bot import SlackBot
from api.slack.format import WORKING, WRITING_NOTE, answer_message, plain_text, thread_history, to_mrkdwn
from api.slack.seen import SeenEvents
from rag.answering.answerer import Answer
from rag.config import Settings
from rag.index.embeddings import MiniLMEmbedder
from rag.pipeline import Pipeline, build
from rag.retrieval.retriever import Passage
from tests.conftest import SEEDS, LiveServer, make_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import BOT_USER, FakeSlack

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
QUESTION = "What does Serbia want to import from Azerbaijan?"


def cites(text: str) -> bool:
    """A citation marker: which passage number holds the answer is retrieval's business, not the bot's."""
    return re.search(r"\[\d+\]", text) is not None


SEED_NAME = next(SEEDS.iterdir()).name
_ids = itertools.count(1)


@dataclass
class Env:
    url: str
    app: FastAPI
    slack: FakeSlack
    llm: FakeOpenAI
    settings: Settings

    @property
    def bot(self) -> SlackBot:
        return self.app.state.slack  # type: ignore[no-any-return]


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def slack_settings(tmp_path: Path, llm: FakeOpenAI, slack: FakeSlack, **overrides: object) -> Settings:
    return make_settings(
        tmp_path / "data",
        llm.base_url,
        slack_bot_token="xoxb-test-token",
        slack_signing_secret=SECRET,
        slack_app_token="xapp-test-token",
        slack_api_url=slack.base_url,
        **overrides,
    )


@pytest.fixture
def slack_pipeline(
    tmp_path: Path, fake_llm: FakeOpenAI, fake_slack: FakeSlack, embedder: MiniLMEmbedder, request: Any
) -> Iterator[Pipeline]:
    overrides = getattr(request, "param", {})
    pipe = build(slack_settings(tmp_path, fake_llm, fake_slack, **overrides), embedder=embedder)
    pipe.ingestor.ingest([SEEDS])
    yield pipe
    pipe.close()


@pytest.fixture
def env(slack_pipeline: Pipeline, fake_slack: FakeSlack, fake_llm: FakeOpenAI) -> Iterator[Env]:
    app = create_app(slack_pipeline.settings, slack_pipeline)
    with LiveServer(app) as server:
        yield Env(server.url, app, fake_slack, fake_llm, slack_pipeline.settings)
        app.state.slack.wait_idle(20)


# Requests as Slack sends them -------------------------------------------------------------------------------
def signature(body: bytes, ts: int, secret: str = SECRET) -> str:
    """Slack's v0 scheme: HMAC-SHA256 of 'v0:{timestamp}:{body}', hex, prefixed 'v0='."""
    return "v0=" + hmac.new(secret.encode(), b"v0:%d:" % ts + body, hashlib.sha256).hexdigest()


def post(
    env: Env, body: bytes, ctype: str, *, ts: int | None = None, secret: str = SECRET, **headers: str
) -> httpx.Response:
    ts = int(time.time()) if ts is None else ts
    sent = {
        "Content-Type": ctype,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature(body, ts, secret),
    }
    sent |= {k.replace("_", "-"): v for k, v in headers.items()}
    return httpx.post(f"{env.url}/slack/events", content=body, headers=sent, timeout=10)


def event_body(event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "token": "legacy-unused",
        "team_id": "T0001",
        "api_app_id": "A0001",
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_ids):08d}",
        "event_time": int(time.time()),
        "event": event,
        "authorizations": [{"user_id": BOT_USER, "is_bot": True}],
    }


def send_event(env: Env, body: dict[str, Any], **headers: str) -> httpx.Response:
    return post(env, json.dumps(body).encode(), "application/json", **headers)


def mention(env: Env, channel: str, text: str) -> dict[str, Any]:
    return mention_event(env.slack, channel, text)


def mention_event(slack: FakeSlack, channel: str, text: str = f"<@{BOT_USER}> {QUESTION}") -> dict[str, Any]:
    """A person @mentions the bot: Slack stores the message, then sends us the event."""
    ts = slack.add_user_message(channel, text)
    return event_body({"type": "app_mention", "user": "UHUMAN01", "text": text, "ts": ts, "channel": channel})


def answered(env: Env, channel: str) -> dict[str, Any]:
    """Wait for the bot's placeholder in `channel` to be replaced by an answer; return that message."""

    def done() -> dict[str, Any] | None:
        msgs = [m for m in env.slack.messages.get(channel, []) if m.get("user") == BOT_USER]
        final = (m for m in reversed(msgs) if m.get("text") != WORKING and not m.get("text", "").endswith(WRITING_NOTE))
        return next(final, None)

    return env.slack.wait_for(done)  # type: ignore[no-any-return]


def block_text(msg: dict[str, Any]) -> str:
    out = []
    for b in msg.get("blocks", []):
        if "text" in b:
            out.append(b["text"]["text"])
        out += [e.get("text", "") for e in b.get("elements", []) if isinstance(e.get("text"), str)]
    return "\n".join(out)


def button_value(msg: dict[str, Any], action_id: str) -> str:
    for b in msg["blocks"]:
        for e in b.get("elements", []):
            if e.get("action_id") == action_id:
                return str(e["value"])
    raise AssertionError(f"no {action_id} button in {msg}")


# The tests --------------------------------------------------------------------------------------------------
def test_url_verification_challenge_is_answered(env: Env) -> None:
    body = {
        "token": "x",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification",
    }
    r = send_event(env, body)
    assert r.status_code == 200
    assert r.json() == {"challenge": body["challenge"]}


def test_app_mention_is_answered_in_its_thread_with_citations(env: Env) -> None:
    body = mention(env, "C0001", f"<@{BOT_USER}> {QUESTION}")
    t0 = time.perf_counter()
    r = send_event(env, body)
    ack_s = time.perf_counter() - t0
    assert r.status_code == 200 and ack_s < 3, (r.status_code, ack_s)

    msg = answered(env, "C0001")
    question_ts = body["event"]["ts"]
    placeholder = env.slack.calls_to("chat.postMessage")[0].args
    assert placeholder["thread_ts"] == question_ts and placeholder["text"] == WORKING
    update = env.slack.calls_to("chat.update")[0].args
    assert update["ts"] == msg["ts"] and msg["thread_ts"] == question_ts
    assert env.slack.calls_to("chat.update")[0].token == "xoxb-test-token"
    # Inline [n] markers, then a sources block naming the document, its position and a quote.
    assert cites(msg["text"]) and "Azerbaijan" in msg["text"]
    shown = block_text(msg)
    assert "*Sources*" in shown and f"`{SEED_NAME}`" in shown and "chars " in shown
    assert "“" in shown  # the passage's words, quoted
    # The source quotes the sentence the answer rests on, located in the document, not the passage's opening.
    assert "quoted chars " in shown
    assert {e["action_id"] for b in msg["blocks"] for e in b.get("elements", []) if "action_id" in e} == {
        "feedback_helpful",
        "feedback_not_helpful",
    }
    # The model saw the question without the bot's mention.
    asked = next(r for r in env.llm.requests if "response_format" in r)["messages"][-1]["content"]
    assert f"Question: {QUESTION}" in asked and "<@" not in asked


@pytest.mark.parametrize("slack_pipeline", [{"slack_update_seconds": 0.2}], indirect=True)
def test_the_placeholder_shows_the_answer_as_it_is_written(env: Env) -> None:
    env.llm.token_delay = 0.15  # a slow model: the words arrive over a couple of seconds
    send_event(env, mention(env, "C0002", f"<@{BOT_USER}> {QUESTION}"))
    msg = answered(env, "C0002")
    updates = [c.args for c in env.slack.calls_to("chat.update")]
    interim, final = updates[:-1], updates[-1]
    assert len(interim) >= 2, updates
    # Each interim text is the answer so far (never the model's JSON), said to be unchecked; it grows.
    texts = [u["text"] for u in interim]
    assert all(t.endswith(WRITING_NOTE) and "{" not in t and "quote" not in t for t in texts)
    assert len(texts[-1]) > len(texts[0])
    assert final["text"] == msg["text"] and cites(final["text"]) and final["blocks"]


def test_direct_message_then_follow_up_in_thread_uses_history(env: Env) -> None:
    ts = env.slack.add_user_message("D0001", QUESTION)
    dm = {"type": "message", "channel_type": "im", "user": "UHUMAN01", "text": QUESTION, "ts": ts, "channel": "D0001"}
    assert send_event(env, event_body(dm)).status_code == 200
    first = answered(env, "D0001")
    assert first["thread_ts"] == ts and cites(first["text"])

    # Our own answer comes back as a message event: it is not a question.
    echo = {"type": "message", "channel_type": "im", "bot_id": "BBOT0001", "text": first["text"], "ts": first["ts"]}
    assert send_event(env, event_body(echo | {"channel": "D0001"})).status_code == 200

    follow = "And what about oil?"
    ts2 = env.slack.add_user_message("D0001", follow, thread_ts=ts)
    dm2 = dm | {"text": follow, "ts": ts2, "thread_ts": ts}
    n_llm = len(env.llm.requests)
    assert send_event(env, event_body(dm2)).status_code == 200
    env.slack.wait_for(lambda: len(env.slack.calls_to("chat.update")) == 2)
    assert env.bot.wait_idle(10)

    replies = env.slack.calls_to("conversations.replies")
    assert [c.args["ts"] for c in replies] == [ts] and replies[0].args["channel"] == "D0001"
    # The follow-up was rewritten with the thread as history: the first question and our answer.
    condense = env.llm.requests[n_llm]["messages"][-1]["content"]
    assert "Standalone question:" in condense
    assert f"user: {QUESTION}" in condense and "assistant: " in condense and follow in condense
    second = env.slack.calls_to("chat.postMessage")[-1].args
    assert second["thread_ts"] == ts
    assert len(env.slack.calls_to("chat.postMessage")) == 2  # the echo produced nothing


def test_bad_signature_and_stale_timestamp_get_401_and_no_work(env: Env) -> None:
    body = json.dumps(mention(env, "C0002", f"<@{BOT_USER}> {QUESTION}")).encode()
    wrong = post(env, body, "application/json", secret="not-the-secret")
    stale = post(env, body, "application/json", ts=int(time.time()) - 6 * 60)
    unsigned = httpx.post(f"{env.url}/slack/events", content=body, headers={"Content-Type": "application/json"})
    garbled = post(env, body, "application/json", X_Slack_Request_Timestamp="soon")
    for r in (wrong, stale, unsigned, garbled):
        assert r.status_code == 401, r.text
        assert r.json()["error"]["type"] == "unauthorized"
    # A slash command and a button click with a bad signature are refused the same way.
    form = urlencode({"command": "/ask", "text": QUESTION, "response_url": env.slack.response_url("x")}).encode()
    assert post(env, form, "application/x-www-form-urlencoded", secret="nope").status_code == 401
    assert env.bot.wait_idle(5)
    time.sleep(0.2)
    assert env.slack.calls == [] and env.slack.responses == [] and env.llm.requests == []


def test_retried_event_is_answered_once_and_acked_fast(env: Env) -> None:
    env.llm.delay = 2.0  # slower than Slack's patience would allow if we answered before acking
    body = mention(env, "C0003", f"<@{BOT_USER}> {QUESTION}")
    acks = []
    for headers in ({}, {"X_Slack_Retry_Num": "1", "X_Slack_Retry_Reason": "http_timeout"}):
        t0 = time.perf_counter()
        assert send_event(env, body, **headers).status_code == 200
        acks.append(time.perf_counter() - t0)
    # The same message under a new event id (Slack does this too) is also recognised.
    assert send_event(env, body | {"event_id": "EvOTHER"}, X_Slack_Retry_Num="2").status_code == 200
    assert max(acks) < 1.0, acks
    answered(env, "C0003")
    assert env.bot.wait_idle(15)
    assert len(env.slack.calls_to("chat.postMessage")) == 1
    assert len(env.slack.calls_to("chat.update")) == 1
    # The store survives a restart: a retry after one is still recognised.
    seen = SeenEvents(env.settings.data_dir / "slack-events.sqlite")
    assert not seen.claim(f"event:{body['event_id']}")
    assert seen.claim("event:EvNEVERSEEN")
    seen.close()


def test_slash_command_answers_via_response_url(env: Env) -> None:
    url = env.slack.response_url("cmd1")
    form = {"command": "/ask", "text": QUESTION, "user_id": "UHUMAN01", "channel_id": "C0004", "response_url": url}
    r = post(env, urlencode(form).encode(), "application/x-www-form-urlencoded")
    assert r.status_code == 200
    assert r.json()["response_type"] == "ephemeral" and WORKING in r.json()["text"]
    got = env.slack.wait_for(lambda: env.slack.responses)[0]
    assert got.path == "/response/cmd1"
    assert got.body["response_type"] == "ephemeral"  # RAG_SLACK_SLASH_IN_CHANNEL is off by default
    assert cites(got.body["text"]) and f"`{SEED_NAME}`" in block_text(got.body)
    assert env.slack.calls_to("chat.postMessage") == []

    empty = post(env, urlencode(form | {"text": "  "}).encode(), "application/x-www-form-urlencoded")
    assert empty.status_code == 200 and "/ask <question>" in empty.json()["text"]


@pytest.mark.parametrize("slack_pipeline", [{"slack_slash_in_channel": True}], indirect=True)
def test_slash_command_in_channel_setting(env: Env) -> None:
    form = {"command": "/ask", "text": QUESTION, "user_id": "UHUMAN01", "response_url": env.slack.response_url("c2")}
    assert post(env, urlencode(form).encode(), "application/x-www-form-urlencoded").status_code == 200
    got = env.slack.wait_for(lambda: env.slack.responses)[0].body
    assert got["response_type"] == "in_channel"
    assert f"<@UHUMAN01> asked: _{QUESTION}_" in block_text(got)


def test_feedback_click_is_recorded_and_listed(env: Env, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    assert send_event(env, mention(env, "C0005", f"<@{BOT_USER}> {QUESTION}")).status_code == 200
    msg = answered(env, "C0005")
    payload = {
        "type": "block_actions",
        "user": {"id": "UHUMAN02"},
        "channel": {"id": "C0005"},
        "message": msg,
        "response_url": env.slack.response_url("click1"),
        "actions": [{"action_id": "feedback_not_helpful", "value": button_value(msg, "feedback_not_helpful")}],
    }
    form = urlencode({"payload": json.dumps(payload)}).encode()
    assert post(env, form, "application/x-www-form-urlencoded").status_code == 200
    # Changing one's mind replaces the vote rather than adding one.
    payload["actions"] = [{"action_id": "feedback_helpful", "value": button_value(msg, "feedback_helpful")}]
    assert post(env, urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded")

    got = httpx.get(f"{env.url}/v1/feedback", timeout=10).json()
    assert got["counts"] == {"helpful": 1, "not_helpful": 0}
    [record] = got["feedback"]
    assert record["rating"] == "helpful" and record["user"] == "UHUMAN02" and record["surface"] == "slack"
    assert record["question"] == QUESTION and cites(record["answer"])
    assert record["citations"][0]["name"] == SEED_NAME and record["citations"][0]["text"]
    thanks = env.slack.wait_for(lambda: env.slack.responses)[0].body
    assert thanks["response_type"] == "ephemeral" and "recorded" in thanks["text"]

    # An unknown answer id is answered politely and recorded nowhere.
    payload["actions"] = [{"action_id": "feedback_helpful", "value": "no-such-answer"}]
    assert post(env, urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded")
    assert httpx.get(f"{env.url}/v1/feedback", timeout=10).json()["counts"]["helpful"] == 1

    from rag.cli import main

    monkeypatch.setenv("RAG_DATA_DIR", str(env.settings.data_dir))
    with pytest.raises(SystemExit) as done:
        main(["feedback"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "helpful" in out and f"Q: {QUESTION}" in out and re.search(rf"\[\d+\] {re.escape(SEED_NAME)}", out)


def test_llm_down_apologises_in_thread_with_sources(env: Env) -> None:
    env.llm.status = 503
    body = mention(env, "C0006", f"<@{BOT_USER}> {QUESTION}")
    assert send_event(env, body).status_code == 200
    msg = answered(env, "C0006")
    assert msg["thread_ts"] == body["event"]["ts"]
    assert msg["text"].startswith(":warning: Sorry") and "HTTP 503" in msg["text"]
    shown = block_text(msg)
    assert "Retrieved passages" in shown and f"`{SEED_NAME}`" in shown


def test_slack_api_errors_are_logged_not_fatal(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="api.slack")
    env.slack.errors["chat.postMessage"] = "channel_not_found"
    assert send_event(env, mention(env, "C0007", f"<@{BOT_USER}> {QUESTION}")).status_code == 200
    env.slack.wait_for(lambda: len(env.slack.calls_to("chat.postMessage")) == 2)  # placeholder, then the answer
    assert env.bot.wait_idle(10)
    failures = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert failures == ["Slack API chat.postMessage failed: channel_not_found"] * 2
    # The server is fine and answers the next one.
    del env.slack.errors["chat.postMessage"]
    assert httpx.get(f"{env.url}/healthz", timeout=5).status_code == 200
    assert send_event(env, mention(env, "C0008", f"<@{BOT_USER}> {QUESTION}")).status_code == 200
    assert cites(answered(env, "C0008")["text"])


def test_slack_is_off_without_secrets(pipeline: Pipeline, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="api")
    with LiveServer(create_app(pipeline.settings, pipeline)) as server:
        r = httpx.post(f"{server.url}/slack/events", json={"type": "url_verification", "challenge": "x"})
    assert r.status_code == 404
    assert any("Slack is off: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET" in r.getMessage() for r in caplog.records)


def test_text_conversions() -> None:
    assert plain_text(f"<@{BOT_USER}> what is <https://x.org|this> &amp; <@U123>?", BOT_USER) == "what is this & @U123?"
    assert plain_text("<@U999|bot> hi there") == "hi there"
    assert to_mrkdwn("**Gas** <b> [docs](https://x.org) [1]") == "*Gas* &lt;b&gt; docs (https://x.org) [1]"
    msgs = [
        {"ts": "1.0", "user": "UH", "text": f"<@{BOT_USER}> first?"},
        {"ts": "2.0", "user": BOT_USER, "bot_id": "B1", "text": "An answer [1]."},
        {"ts": "2.5", "user": "UOTHERBOT", "bot_id": "B2", "text": "Another bot"},
        {"ts": "3.0", "user": "UH", "text": "now?"},
    ]
    history = thread_history(msgs, BOT_USER, "B1", "3.0", 20)
    assert [(m.role, m.content) for m in history] == [
        ("user", "first?"),
        ("assistant", "An answer [1]."),
        ("user", "Another bot"),
    ]


def test_socket_mode_uses_the_same_handlers(
    tmp_path: Path, fake_llm: FakeOpenAI, fake_slack: FakeSlack, slack_pipeline: Pipeline
) -> None:
    """Socket Mode against a fake Slack WebSocket on loopback: the envelope is acked, the answer posted."""
    from websockets.sync.server import ServerConnection, serve

    from api.slack import socket as slack_socket

    acks: list[dict[str, Any]] = []
    event = mention_event(fake_slack, "C0009")
    envelopes = [
        {"envelope_id": "env-1", "type": "events_api", "payload": event, "accepts_response_payload": False},
        {
            "envelope_id": "env-2",
            "type": "slash_commands",
            "payload": {"command": "/ask", "text": QUESTION, "response_url": fake_slack.response_url("sock")},
            "accepts_response_payload": True,
        },
    ]

    def slack_side(conn: ServerConnection) -> None:
        conn.send(json.dumps({"type": "hello", "num_connections": 1}))
        for envelope in envelopes:
            conn.send(json.dumps(envelope))
        for raw in conn:
            acks.append(json.loads(raw))

    with serve(slack_side, "127.0.0.1", 0) as ws:
        threading.Thread(target=ws.serve_forever, daemon=True).start()
        fake_slack.socket_url = f"ws://127.0.0.1:{ws.socket.getsockname()[1]}/link?ticket=t"
        stop = threading.Event()
        runner = threading.Thread(target=slack_socket.run, args=(slack_pipeline.settings, slack_pipeline, stop))
        runner.start()
        try:
            fake_slack.wait_for(lambda: fake_slack.calls_to("chat.update") and fake_slack.responses, timeout=20)
            fake_slack.wait_for(lambda: len(acks) >= 2)
        finally:
            stop.set()
            runner.join(10)
            ws.shutdown()
    assert [c.token for c in fake_slack.calls_to("apps.connections.open")] == ["xapp-test-token"]
    assert {a["envelope_id"] for a in acks} == {"env-1", "env-2"}
    slash_ack = next(a for a in acks if a["envelope_id"] == "env-2")
    assert WORKING in slash_ack["payload"]["text"]
    assert cites(fake_slack.calls_to("chat.update")[0].args["text"])
    assert cites(fake_slack.responses[0].body["text"])


def test_manifests_subscribe_to_what_the_bot_handles() -> None:
    import yaml

    root = Path(__file__).resolve().parent.parent / "docs" / "slack"
    http = yaml.safe_load((root / "manifest.yml").read_text())
    socket = yaml.safe_load((root / "manifest-socket.yml").read_text())
    for m in (http, socket):
        assert m["settings"]["event_subscriptions"]["bot_events"] == ["app_mention", "message.im"]
        assert m["settings"]["interactivity"]["is_enabled"] is True
        assert [c["command"] for c in m["features"]["slash_commands"]] == ["/ask"]
        scopes = set(m["oauth_config"]["scopes"]["bot"])
        assert {"app_mentions:read", "chat:write", "commands", "im:history", "channels:history"} <= scopes
    assert http["settings"]["event_subscriptions"]["request_url"].endswith("/slack/events")
    assert http["settings"]["interactivity"]["request_url"].endswith("/slack/events")
    assert http["features"]["slash_commands"][0]["url"].endswith("/slack/events")
    assert socket["settings"]["socket_mode_enabled"] is True and http["settings"]["socket_mode_enabled"] is False


def test_cli_slack_status_and_socket_mode_needs_app_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from rag.cli import main

    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path))
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as done:
        main(["slack"])
    assert done.value.code == 0 and "it is OFF: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET" in capsys.readouterr().out
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    with pytest.raises(SystemExit) as done:
        main(["slack"])
    assert "it is ON" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["slack", "--socket"])
    assert done.value.code == 2 and "needs SLACK_APP_TOKEN" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        main(["feedback"])
    assert done.value.code == 0 and "no feedback yet" in capsys.readouterr().out


# Issue 12: hostile input ------------------------------------------------------------------------------------
def test_a_document_cannot_put_live_links_mentions_or_markup_into_slack() -> None:
    hostile = (
        "Reset your password at [the HR portal](https://evil.example/login) or <https://evil.example|HR>. "
        "<!channel> *urgent* _now_ ~gone~ `code` https://evil.example/raw"
    )
    passage = Passage("c1", "/srv/docs/a.md", "a.md", "*Official* <b>policy</b>", 0, len(hostile), hostile, 0.9)
    # The model copied the document's link into its answer.
    answer = Answer(QUESTION, "Use [the HR portal](https://evil.example/login) [1].", [(1, passage)], False, "m", 1, 1)
    _, blocks = answer_message(answer, "answer-1")
    mrkdwn = [b["text"] for b in blocks if b.get("text", {}).get("type") == "mrkdwn"]
    assert mrkdwn and all(t["verbatim"] is True for t in mrkdwn)
    everything_marked_up = json.dumps([t["text"] for t in mrkdwn])
    assert "<http" not in everything_marked_up and "<!channel>" not in everything_marked_up
    assert "evil.example" not in everything_marked_up.replace("the HR portal (https://evil.example/login)", "")
    quotes = [e for b in blocks if b["type"] == "context" for e in b["elements"] if e["type"] == "plain_text"]
    assert len(quotes) == 1 and "[the HR portal](https://evil.example/login)" in quotes[0]["text"]
    assert "*Official* <b>policy</b>" in quotes[0]["text"]  # the document's title: words, not markup


def test_a_signed_body_that_is_not_an_object_is_a_400(env: Env) -> None:
    for body in (b"[1, 2]", b'"text"', b"42", b"null"):
        r = post(env, body, "application/json")
        assert r.status_code == 400 and r.json()["error"]["type"] == "bad_request", body
    click = urlencode({"payload": "[1]"}).encode()
    assert post(env, click, "application/x-www-form-urlencoded").status_code == 400


def test_a_replayed_slash_command_is_answered_once(env: Env) -> None:
    form = {"command": "/ask", "text": QUESTION, "user_id": "UHUMAN01", "response_url": env.slack.response_url("r1")}
    body, ts = urlencode(form).encode(), int(time.time())
    assert post(env, body, "application/x-www-form-urlencoded", ts=ts).status_code == 200
    replay = post(env, body, "application/x-www-form-urlencoded", ts=ts)
    assert replay.status_code == 409
    env.slack.wait_for(lambda: env.slack.responses)
    env.bot.wait_idle(20)
    assert len(env.slack.responses) == 1


def test_replicas_sharing_a_database_answer_a_retry_once_and_share_votes(
    slack_pipeline: Pipeline, fake_slack: FakeSlack, fake_llm: FakeOpenAI, postgres_url: str
) -> None:
    # Two apps on one shared database are two replicas as far as Slack's state and the votes go (the index
    # they answer from is shared too in production; tests/test_replicas.py covers that side).
    settings = slack_pipeline.settings.model_copy(update={"database_url": postgres_url})
    apps = [create_app(settings, slack_pipeline) for _ in range(2)]
    with LiveServer(apps[0]) as server_a, LiveServer(apps[1]) as server_b:
        a = Env(server_a.url, apps[0], fake_slack, fake_llm, settings)
        b = Env(server_b.url, apps[1], fake_slack, fake_llm, settings)
        body = mention(a, "C0009", f"<@{BOT_USER}> {QUESTION}")
        assert send_event(a, body).status_code == 200
        assert send_event(b, body, X_Slack_Retry_Num="1", X_Slack_Retry_Reason="http_timeout").status_code == 200
        msg = answered(a, "C0009")
        assert a.bot.wait_idle(15) and b.bot.wait_idle(15)
        assert len(fake_slack.calls_to("chat.postMessage")) == 1

        payload = {
            "type": "block_actions",
            "user": {"id": "UHUMAN03"},
            "actions": [{"action_id": "feedback_helpful", "value": button_value(msg, "feedback_helpful")}],
        }
        click, ts = urlencode({"payload": json.dumps(payload)}).encode(), int(time.time())
        assert post(b, click, "application/x-www-form-urlencoded", ts=ts).status_code == 200
        assert post(a, click, "application/x-www-form-urlencoded", ts=ts).status_code == 409  # a replay, elsewhere
        got = httpx.get(f"{a.url}/v1/feedback", timeout=10).json()
        assert got["counts"] == {"helpful": 1, "not_helpful": 0} and got["feedback"][0]["user"] == "UHUMAN03"
    assert not (settings.data_dir / "slack-events.sqlite").exists()
    assert not (settings.data_dir / "feedback.sqlite").exists()
