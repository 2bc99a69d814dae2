"""Who may read what, on every surface (issue 20): two callers in different groups (ann: hr, bob: eng), documents
of four kinds (hr only, eng only, hr and eng, everyone), on both backends (embedded: Chroma and SQLite on disk;
shared: PostgreSQL and a `chroma run` server).

Each caller gets answers, citations, listings and downloads from their documents only, on /v1/ask and its stream
(as the chat page calls it too), /v1/chat/completions (plain and streamed), /v1/documents, /original,
/v1/feedback, /metrics and Slack (HTTP events and slash commands, users mapped by id and by user group, and an
unmapped user); the top k is full when enough readable passages exist. The leak test asks each caller the question
whose best passage is in the other's document, and finds nothing of that document anywhere: not in a response
body, a stream, a Slack message, a listing, a vote's reply, the server's log at INFO, nor in any prompt the LLM
was sent (the fake LLM answers from the passages it is given, so a passage that reached it would show in the
answer; the prompts are checked directly too).

Real parts throughout: the app under uvicorn, the MiniLM embedder, Chroma, SQLite/PostgreSQL, slack_sdk talking
to the fake Slack Web API; the LLM is the fake OpenAI-compatible server.
"""

from __future__ import annotations

import json
import logging
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
from api.keys import Keys, read_keys_file
from rag.access import AccessFileError
from rag.index.embeddings import MiniLMEmbedder
from rag.pipeline import Pipeline, build
from tests.api_support import sse_events
from tests.conftest import LiveServer, make_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import BOT_USER, FakeSlack
from tests.postgres import PostgresServer
from tests.servers import chroma_run
from tests.test_slack import SECRET, event_body, signature

ANN, BOB, ROOT, PLAIN = "k-ann-hr-0001", "k-bob-eng-0002", "k-root-admin-0003", "k-plain-0004"
ANN_SLACK, BOB_SLACK, EVE_SLACK, ENG_GROUP = "U0ANN", "U0BOB", "U0EVE", "S0ENG"
KEYS_FILE = f"""
[[keys]]
key = "{ANN}"
user = "ann"
groups = ["hr"]

[[keys]]
key = "{BOB}"
user = "bob"
groups = ["eng"]

[[keys]]
key = "{ROOT}"
user = "root"
admin = true

[[slack]]
user = "{ANN_SLACK}"
groups = ["hr"]

[[slack]]
usergroup = "{ENG_GROUP}"
groups = ["eng"]
"""


def paragraphs(title: str, lines: list[str]) -> bytes:
    return (f"# {title}\n\n" + "\n\n".join(lines) + "\n").encode()


# Every paragraph (a chunk each, at 32 tokens) carries its document's marker word, so any chunk of it that leaks
# is seen. The questions never contain a marker: the asker's own words are echoed back, and must be.
HR = (
    "quokka-allowance.md",
    "hr",
    paragraphs(
        "Quokka allowance policy",
        [
            f"Quokka rule {i}: staff in the Perth office receive a monthly commuting allowance of {300 + i} euros "
            "under the quokka scheme."
            for i in range(14)
        ],
    ),
)
ENG = (
    "pangolin-deploys.md",
    "eng",
    paragraphs(
        "Pangolin deploy runbook",
        [
            f"Pangolin step {i}: the pangolin cluster is deployed on Tuesday afternoons by the release captain, who "
            f"checks build {i} first."
            for i in range(6)
        ],
    ),
)
BOTH = (
    "laptop-onboarding.md",
    "hr,eng",
    paragraphs(
        "Laptop onboarding",
        [
            f"Laptop note {i}: new staff receive their laptop from the help desk on the first morning, with a badge "
            f"for floor {i}."
            for i in range(4)
        ],
    ),
)
PUBLIC = (
    "canteen-hours.md",
    "everyone",
    paragraphs(
        "Canteen hours",
        [f"Canteen note {i}: the canteen serves lunch from noon until two, and coffee on floor {i}." for i in range(4)],
    ),
)
Q_HR = "How much is the monthly commuting allowance for staff in the Perth office?"
Q_ENG = "Who deploys the cluster on Tuesday afternoons?"
Q_BOTH = "When do new staff receive their laptop?"
Q_PUBLIC = "When does the canteen serve lunch?"
READS = {
    "ann": {HR[0], BOTH[0], PUBLIC[0]},
    "bob": {ENG[0], BOTH[0], PUBLIC[0]},
    "plain": {PUBLIC[0]},
    "root": {HR[0], ENG[0], BOTH[0], PUBLIC[0]},
}
KEY_OF = {"ann": ANN, "bob": BOB, "root": ROOT, "plain": PLAIN}
TOP_K = 5


@dataclass
class World:
    url: str
    app: FastAPI
    pipe: Pipeline
    slack: FakeSlack
    llm: FakeOpenAI
    ids: dict[str, str]  # document name -> id
    originals: dict[str, bytes]

    def leaks(self, name: str) -> list[str]:
        """What of a document must never reach a caller who may not read it (compared in lower case)."""
        marker = {HR[0]: ["quokka"], ENG[0]: ["pangolin", "release captain"]}[name]
        return [*marker, name.lower(), Path(name).stem.lower(), self.ids[name]]


def headers(who: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY_OF[who]}", **extra}


@pytest.fixture(scope="module", params=["embedded", "shared"])
def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    embedder: MiniLMEmbedder,
    fake_llm_server: FakeOpenAI,
    postgres_server: PostgresServer,
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp(f"access-{request.param}")
    keys_file = tmp / "keys.toml"
    keys_file.write_text(KEYS_FILE, encoding="utf-8")
    with FakeSlack() as slack:
        slack.usergroups[ENG_GROUP] = [BOB_SLACK, "U0OTHER"]
        overrides: dict[str, Any] = dict(
            keys_file=keys_file,
            api_keys=PLAIN,
            chunk_tokens=32,
            chunk_overlap=0,
            top_k=TOP_K,
            candidate_pool=10,  # fewer candidates than hr chunks: a filter applied after the search would fall short
            min_similarity=-1.0,  # every readable passage counts, so "top k is full" is a fair question
            slack_bot_token="xoxb-test-token",
            slack_signing_secret=SECRET,
            slack_api_url=slack.base_url,
        )
        with chroma_run(tmp / "chroma") if request.param == "shared" else _nothing() as chroma_url:
            if chroma_url:
                overrides |= {"chroma_url": chroma_url, "database_url": postgres_server.new_database()}
            settings = make_settings(tmp / "data", fake_llm_server.base_url, **overrides)
            pipe = build(settings, embedder=embedder)
            app = create_app(settings, pipe)
            try:
                with LiveServer(app) as server:
                    ids: dict[str, str] = {}
                    for name, groups, data in (HR, ENG, BOTH, PUBLIC):
                        r = httpx.post(
                            f"{server.url}/v1/documents",
                            files=[("files", (name, data))],
                            data={"groups": groups},
                            headers=headers("root"),
                            timeout=120,
                        )
                        assert r.status_code == 200 and r.json()["results"][0]["status"] == "added", r.text
                    for d in httpx.get(f"{server.url}/v1/documents", headers=headers("root")).json()["documents"]:
                        ids[d["name"]] = d["id"]
                    originals = {name: data for name, _, data in (HR, ENG, BOTH, PUBLIC)}
                    yield World(server.url, app, pipe, slack, fake_llm_server, ids, originals)
                    app.state.slack.wait_idle(30)
            finally:
                pipe.close()


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        pass


@pytest.fixture
def llm(world: World, fake_llm: FakeOpenAI) -> FakeOpenAI:
    return fake_llm  # reset before and after each test


def names_of(passages: list[dict[str, Any]]) -> set[str]:
    return {p["name"] for p in passages}


def ask(world: World, who: str, question: str, **extra: Any) -> dict[str, Any]:
    body = {"question": question, "top_k": TOP_K, **extra}
    r = httpx.post(f"{world.url}/v1/ask", json=body, headers=headers(who), timeout=60)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


# Listings and downloads --------------------------------------------------------------------------------------
def test_each_caller_lists_and_downloads_only_their_documents(world: World) -> None:
    for who, readable in READS.items():
        listed = httpx.get(f"{world.url}/v1/documents", headers=headers(who)).json()["documents"]
        assert {d["name"] for d in listed} == readable, who
        # Groups are shown to admins only: to others they would name the groups that exist.
        assert all((d["groups"] is not None) == (who == "root") for d in listed)
        for name, doc_id in world.ids.items():
            r = httpx.get(f"{world.url}/v1/documents/{doc_id}/original", headers=headers(who))
            if name in readable:
                assert r.status_code == 200 and r.content == world.originals[name], (who, name)
            else:
                # Exactly what a document that does not exist gets: nothing says this one does.
                missing = httpx.get(f"{world.url}/v1/documents/{'0' * 16}/original", headers=headers(who))
                assert r.status_code == missing.status_code == 404
                assert r.json()["error"]["message"].replace(doc_id, "ID") == missing.json()["error"]["message"].replace(
                    "0" * 16, "ID"
                )
                assert dict(r.headers).keys() == dict(missing.headers).keys()
    admin = {
        d["name"]: d["groups"]
        for d in httpx.get(f"{world.url}/v1/documents", headers=headers("root")).json()["documents"]
    }
    assert admin == {HR[0]: ["hr"], ENG[0]: ["eng"], BOTH[0]: ["hr", "eng"], PUBLIC[0]: ["everyone"]}


def test_metrics_and_readiness_count_only_what_the_key_may_read(world: World) -> None:
    for who in READS:
        text = httpx.get(f"{world.url}/metrics", headers=headers(who)).text
        assert f"seedrag_index_documents {float(len(READS[who]))}" in text, who
        if who != "root":
            assert not any(s in text.lower() for s in world.leaks(HR[0]) + world.leaks(ENG[0]))
        # /readyz tells a key the index's size only if that key reads every document.
        index = httpx.get(f"{world.url}/readyz", headers=headers(who), timeout=30).json()["checks"]["index"]
        assert index["ok"] and ("documents" in index) == (who == "root"), (who, index)


# Answers ------------------------------------------------------------------------------------------------------
def test_each_caller_is_answered_from_their_documents_with_a_full_top_k(world: World, llm: FakeOpenAI) -> None:
    for who, question, own in (("ann", Q_HR, HR[0]), ("bob", Q_ENG, ENG[0])):
        answer = ask(world, who, question)
        assert not answer["refused"] and own in names_of(answer["citations"]), answer
        assert names_of(answer["passages"]) <= READS[who] and len(answer["passages"]) == TOP_K
    for who in ("ann", "bob"):  # the documents both groups share, and the public one
        both = ask(world, who, Q_BOTH)
        assert BOTH[0] in names_of(both["citations"]) and names_of(both["passages"]) <= READS[who]
    # A RAG_API_KEYS key reads the public documents only: asked about laptops, it never sees the laptop document.
    plain = ask(world, "plain", Q_BOTH)
    assert names_of(plain["passages"]) == {PUBLIC[0]}
    # The top k stays full when the best passages are all in documents the caller may not read: bob asked about the
    # hr allowance (14 hr chunks, more than the 10 candidates each side takes) still gets 5 of his own.
    crossed = ask(world, "bob", Q_HR)
    assert len(crossed["passages"]) == TOP_K and names_of(crossed["passages"]) <= READS["bob"]


def test_the_stream_the_page_and_chat_completions_act_for_their_caller(world: World, llm: FakeOpenAI) -> None:
    for who, question, own in (("ann", Q_HR, HR[0]), ("bob", Q_ENG, ENG[0])):
        page = headers(who, **{"x-seedrag-client": "page"})
        body = {"question": question, "top_k": TOP_K}
        with httpx.stream("POST", f"{world.url}/v1/ask/stream", json=body, headers=page, timeout=60) as r:
            events = dict(sse_events(r))
        assert names_of(events["sources"]["passages"]) <= READS[who] and len(events["sources"]["passages"]) == TOP_K
        assert own in names_of(events["done"]["citations"])

        chat = {"model": "seedrag", "messages": [{"role": "user", "content": question}], "top_k": TOP_K}
        r = httpx.post(f"{world.url}/v1/chat/completions", json=chat, headers=headers(who), timeout=60)
        assert r.status_code == 200, r.text
        assert own in names_of(r.json()["sources"]) and names_of(r.json()["sources"]) <= READS[who]
        with httpx.stream(
            "POST", f"{world.url}/v1/chat/completions", json={**chat, "stream": True}, headers=headers(who), timeout=60
        ) as r:
            chunks = [json.loads(line[5:]) for line in r.iter_lines() if line.startswith("data: {")]
        sources = next(c["sources"] for c in chunks if "sources" in c)
        assert own in names_of(sources) and names_of(sources) <= READS[who]


# Feedback -------------------------------------------------------------------------------------------------------
def test_a_caller_votes_only_on_the_answers_it_was_given(world: World, llm: FakeOpenAI) -> None:
    answer_id = ask(world, "ann", Q_HR)["answer_id"]
    vote = {"answer_id": answer_id, "rating": "helpful"}
    theirs = httpx.post(f"{world.url}/v1/feedback", json=vote, headers=headers("bob"))
    unknown = httpx.post(f"{world.url}/v1/feedback", json={**vote, "answer_id": "f" * 32}, headers=headers("bob"))
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["error"]["message"].replace(answer_id, "ID") == unknown.json()["error"]["message"].replace(
        "f" * 32, "ID"
    )
    mine = httpx.post(f"{world.url}/v1/feedback", json=vote, headers=headers("ann"))
    assert mine.status_code == 200 and mine.json()["recorded"]["user"] == "user:ann"
    listed = httpx.get(f"{world.url}/v1/feedback", headers=headers("root")).json()["feedback"]
    assert any(f["user"] == "user:ann" and f["question"] == Q_HR for f in listed)
    assert httpx.get(f"{world.url}/v1/feedback", headers=headers("ann")).status_code == 403


# Slack ------------------------------------------------------------------------------------------------------------
def slack_post(world: World, body: bytes, ctype: str) -> httpx.Response:
    ts = int(time.time())
    sent = {"Content-Type": ctype, "X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": signature(body, ts)}
    return httpx.post(f"{world.url}/slack/events", content=body, headers=sent, timeout=10)


def slack_dm(world: World, user: str, text: str) -> list[dict[str, Any]]:
    """A direct message to the bot, answered; the arguments of every Slack call made for it."""
    before = len(world.slack.calls)
    channel = f"D{user}"
    ts = world.slack.add_user_message(channel, text, user=user)
    event = {"type": "message", "channel_type": "im", "user": user, "text": text, "ts": ts, "channel": channel}
    assert slack_post(world, json.dumps(event_body(event)).encode(), "application/json").status_code == 200
    world.slack.wait_for(lambda: len(world.slack.calls_to("chat.update")) and world.app.state.slack.wait_idle(0))
    assert world.app.state.slack.wait_idle(30)
    return [c.args for c in world.slack.calls[before:] if c.method in ("chat.postMessage", "chat.update")]


def slack_command(world: World, user: str, text: str) -> list[dict[str, Any]]:
    """`/ask <text>` from `user`; what Slack got back: the acknowledgement, then what was posted to response_url."""
    name = f"cmd-{user}-{time.monotonic_ns()}"
    form = {
        "command": "/ask",
        "text": text,
        "user_id": user,
        "channel_id": "C0CMD",
        "response_url": world.slack.response_url(name),
    }
    r = slack_post(world, urlencode(form).encode(), "application/x-www-form-urlencoded")
    assert r.status_code == 200, r.text
    posted = world.slack.wait_for(lambda: [p.body for p in world.slack.responses if p.path.endswith(name)])
    assert world.app.state.slack.wait_idle(30)
    return [r.json(), *posted]


def test_slack_users_read_what_their_mapping_allows(world: World, llm: FakeOpenAI) -> None:
    ann = json.dumps(slack_dm(world, ANN_SLACK, Q_HR)).lower()
    assert "quokka" in ann  # mapped by user id: hr
    bob = json.dumps(slack_command(world, BOB_SLACK, Q_ENG)).lower()
    assert "pangolin" in bob  # mapped through the user group S0ENG: eng
    # Eve is in no entry: the public documents only, not even the laptop document hr and eng share.
    n_llm = len(llm.requests)
    eve = json.dumps(slack_dm(world, EVE_SLACK, Q_BOTH)).lower()
    shown = json.dumps(llm.requests[n_llm:]).lower()  # the passages her question was answered from
    assert "canteen note" in shown and "laptop note" not in shown
    assert "laptop-onboarding" not in eve and "laptop note" not in eve
    asked = [c.args.get("usergroup") for c in world.slack.calls_to("usergroups.users.list")]
    assert asked and set(asked) == {ENG_GROUP}


def mention_in(world: World, channel: str, user: str, text: str, thread_ts: str | None = None) -> str:
    """`user` @mentions the bot in a channel (in a thread, if given); waits for the answer; the question's ts."""
    text = f"<@{BOT_USER}> {text}"
    ts = world.slack.add_user_message(channel, text, user=user, thread_ts=thread_ts)
    event = {"type": "app_mention", "user": user, "text": text, "ts": ts, "channel": channel}
    if thread_ts:
        event["thread_ts"] = thread_ts
    before = len(world.slack.calls_to("chat.update"))
    assert slack_post(world, json.dumps(event_body(event)).encode(), "application/json").status_code == 200
    world.slack.wait_for(
        lambda: len(world.slack.calls_to("chat.update")) > before and world.app.state.slack.wait_idle(0)
    )
    assert world.app.state.slack.wait_idle(30)
    return ts


def test_a_slack_answer_in_a_channel_is_drawn_from_public_documents(world: World, llm: FakeOpenAI) -> None:
    """Everyone in a channel reads its answers: there, even ann's question is answered from what all may read."""
    n_llm = len(llm.requests)
    mention_in(world, "C0OPEN", ANN_SLACK, Q_HR)
    posted = json.dumps(world.slack.messages["C0OPEN"]).lower()
    shown = json.dumps(llm.requests[n_llm:]).lower()
    assert "quokka" not in posted and "quokka" not in shown and "laptop note" not in shown
    assert "canteen note" in shown


def test_a_slack_follow_up_reads_only_the_askers_own_conversation(world: World, llm: FakeOpenAI) -> None:
    channel = "C0THREAD"
    ts = mention_in(world, channel, ANN_SLACK, "What does the wombat scheme cover?")
    assert len(world.slack.messages[channel]) >= 2  # her question, and the bot's answer in the thread

    n_llm = len(llm.requests)
    mention_in(world, channel, BOB_SLACK, "and what about the ones on Tuesday afternoons?", thread_ts=ts)
    # Bob's question never carried Ann's conversation (her words, the bot's answer to her) to the model.
    prompts = json.dumps(llm.requests[n_llm:]).lower()
    assert "tuesday afternoons" in prompts and "wombat" not in prompts
    # In Ann's own follow-up her earlier question is the history the rewrite reads.
    n_llm = len(llm.requests)
    mention_in(world, channel, ANN_SLACK, "and for part-time staff?", thread_ts=ts)
    assert "wombat" in json.dumps(llm.requests[n_llm:]).lower()


# The leak test -------------------------------------------------------------------------------------------------------
class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_nothing_of_the_other_callers_document_reaches_them_anywhere(world: World, llm: FakeOpenAI) -> None:
    """Ann asks the question whose best passage is in bob's document, and bob the one whose best is in ann's, on
    every surface; nothing of the other's document comes back, reaches the model, or is logged at INFO."""
    root = logging.getLogger()
    captured, level = Captured(), root.level
    root.addHandler(captured)
    root.setLevel(logging.INFO)
    try:
        cases = (("ann", ANN_SLACK, Q_ENG, ENG[0]), ("bob", BOB_SLACK, Q_HR, HR[0]))
        for who, slack_user, question, theirs in cases:
            n_llm, n_log = len(llm.requests), len(captured.lines)
            got: list[str] = []
            answer = ask(world, who, question)
            got.append(json.dumps(answer))
            with httpx.stream(
                "POST",
                f"{world.url}/v1/ask/stream",
                json={"question": question, "top_k": TOP_K},
                headers=headers(who, **{"x-seedrag-client": "page"}),
                timeout=60,
            ) as r:
                got.append(r.read().decode())
            # A follow-up: the history is the caller's own, and the rewrite sees nothing else.
            history = [{"role": "user", "content": question}, {"role": "assistant", "content": answer["answer"]}]
            got.append(json.dumps(ask(world, who, "And on which floor?", history=history)))
            chat = {"model": "seedrag", "messages": [{"role": "user", "content": question}], "top_k": TOP_K}
            for stream in (False, True):
                r = httpx.post(
                    f"{world.url}/v1/chat/completions",
                    json={**chat, "stream": stream},
                    headers=headers(who),
                    timeout=60,
                )
                assert r.status_code == 200, r.text
                got.append(r.text)
            vote = {"answer_id": answer["answer_id"], "rating": "not_helpful", "comment": "checked"}
            got.append(httpx.post(f"{world.url}/v1/feedback", json=vote, headers=headers(who)).text)
            got.append(httpx.get(f"{world.url}/v1/documents", headers=headers(who)).text)
            got.append(httpx.get(f"{world.url}/metrics", headers=headers(who)).text)
            # The model fails: the error still carries the retrieved passages, the caller's own only.
            llm.status = 503
            failed = httpx.post(f"{world.url}/v1/ask", json={"question": question}, headers=headers(who), timeout=60)
            assert failed.status_code >= 500 and failed.json()["passages"]
            got.append(failed.text)
            llm.status = None
            got.append(json.dumps(slack_dm(world, slack_user, question)))
            got.append(json.dumps(slack_command(world, slack_user, question)))

            said = "\n".join(got).lower()
            prompts = json.dumps(llm.requests[n_llm:]).lower()
            logged = "\n".join(captured.lines[n_log:]).lower()
            assert prompts and logged, "the model was asked and the server logged its requests"
            for leak in world.leaks(theirs):
                assert leak not in said, (who, leak)
                assert leak not in prompts, (who, leak)
                assert leak not in logged, (who, leak)
            # The caller's own documents did come back: the surfaces answered, from what they may read.
            assert names_of(answer["passages"]) <= READS[who] and len(answer["passages"]) == TOP_K
    finally:
        root.removeHandler(captured)
        root.setLevel(level)


# The keys file ------------------------------------------------------------------------------------------------------
def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "keys.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[keys]]\nkey = "secret-1"\ngroups = ["hr"]\n', "[[keys]] entry 1: 'user' must be a non-empty name"),
        ('[[keys]]\nkey = "secret-1"\nuser = "ann"\ngroup = ["hr"]\n', "(user 'ann'): unknown field(s) ['group']"),
        ('[[keys]]\nkey = "secret-1"\nuser = "ann"\ngroups = ["h,r"]\n', "group name 'h,r' must be"),
        ('[[keys]]\nkey = "secret-1"\nuser = "ann"\nadmin = "yes"\n', "'admin' must be true or false"),
        ('[[keys]]\nkey = "secret-1"\nuser = "a"\n[[keys]]\nkey = "secret-1"\nuser = "b"\n', "entry 2 (user 'b')"),
        ('[[slack]]\ngroups = ["hr"]\n', "[[slack]] entry 1: give exactly one of 'user'"),
        ('[[slack]]\nuser = "U1"\n', "'groups' is missing"),
        ('[[slack]]\nuser = "<@U1>"\ngroups = []\n', "is not a Slack id"),
        ("[keys]\nkey = 1\n", "'keys' must be a list of tables"),
        ("[[reader]]\nkey = 1\n", "unknown section(s) ['reader']"),
        ("keys = [\n", "is not valid TOML"),
    ],
)
def test_a_wrong_keys_file_is_named_with_its_entry_and_never_shows_a_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(AccessFileError) as e:
        read_keys_file(path)
    assert str(path) in str(e.value) and message in str(e.value)
    assert "secret-1" not in str(e.value)


def test_the_keys_file_beside_the_environment_keys(tmp_path: Path, fake_llm_server: FakeOpenAI) -> None:
    path = write(tmp_path, KEYS_FILE)
    settings = make_settings(
        tmp_path / "data", fake_llm_server.base_url, keys_file=path, api_keys="p1", admin_keys="a1"
    )
    keys = Keys.load(settings)
    ann, plain, admin = keys.reader_for(ANN), keys.reader_for("p1"), keys.reader_for("a1")
    assert ann and ann.named and ann.reader.user == "ann" and ann.reader.allowed() == {"hr", "everyone"}
    assert plain and not plain.named and plain.reader.allowed() == {"everyone"} and not plain.reader.admin
    assert admin and admin.reader.admin and admin.reader.allowed() is None
    assert keys.reader_for("k-ann") is None and keys.reader_for(ANN + "x") is None
    assert [e.usergroup or e.user for e in keys.slack] == [ANN_SLACK, ENG_GROUP]
    with pytest.raises(AccessFileError, match="also in RAG_API_KEYS"):
        Keys.load(settings.model_copy(update={"api_keys": ANN}))
    with pytest.raises(AccessFileError, match="does not exist"):
        Keys.load(settings.model_copy(update={"keys_file": tmp_path / "missing.toml"}))
    # Without any key the server is the one trusted local user's, on loopback; a keys file with Slack entries
    # only gives no key either.
    assert not Keys.load(make_settings(tmp_path / "d2", fake_llm_server.base_url)).has_keys
    only_slack = write(tmp_path, '[[slack]]\nuser = "U1"\ngroups = ["hr"]\n')
    assert not Keys.load(
        settings.model_copy(update={"keys_file": only_slack, "api_keys": "", "admin_keys": ""})
    ).has_keys


def test_an_upload_with_wrong_groups_is_refused_before_it_is_read(world: World) -> None:
    r = httpx.post(
        f"{world.url}/v1/documents",
        files=[("files", ("x.md", b"# x\n\nSome text."))],
        data={"groups": "hr,,eng"},
        headers=headers("root"),
    )
    assert r.status_code == 422 and "group name '' must be a non-empty string" in r.json()["error"]["message"]
    r = httpx.post(
        f"{world.url}/v1/documents", files=[("files", ("x.md", b"# x"))], data={"groups": "hr"}, headers=headers("ann")
    )
    assert r.status_code == 403
    assert "x.md" not in {
        d["name"] for d in httpx.get(f"{world.url}/v1/documents", headers=headers("root")).json()["documents"]
    }


def test_a_slack_user_group_slack_cannot_list_grants_nothing_and_is_asked_again_later() -> None:
    from slack_sdk import WebClient

    from api.keys import SlackEntry
    from api.slack.readers import SlackReaders

    with FakeSlack() as slack:
        client = WebClient(token="xoxb-test-token", base_url=slack.base_url, timeout=5)
        entries = (SlackEntry(("eng",), usergroup=ENG_GROUP), SlackEntry(("hr",), user=ANN_SLACK))
        slack.usergroups[ENG_GROUP] = [BOB_SLACK]
        slack.errors["usergroups.users.list"] = "missing_scope"
        readers = SlackReaders(entries, client, ttl=0.0)
        assert readers.reader(BOB_SLACK).allowed() == {"everyone"}  # Slack could not say: public only
        assert readers.reader(ANN_SLACK).allowed() == {"hr", "everyone"}  # by id, no need to ask Slack
        del slack.errors["usergroups.users.list"]
        bob = readers.reader(BOB_SLACK)
        assert bob.allowed() == {"eng", "everyone"} and not bob.admin and bob.user == "slack:" + BOB_SLACK
        assert readers.reader("").allowed() == {"everyone"}
        # Within the time to live the members are not asked again.
        cached = SlackReaders(entries, client)
        calls = len(slack.calls_to("usergroups.users.list"))
        for _ in range(3):
            assert cached.reader(BOB_SLACK).allowed() == {"eng", "everyone"}
        assert len(slack.calls_to("usergroups.users.list")) == calls + 1
