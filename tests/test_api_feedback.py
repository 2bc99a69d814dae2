"""POST /v1/feedback over real HTTP: a vote on an answer the server gave, stored beside the Slack votes and
listed by GET /v1/feedback and `rag feedback`."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.config import Settings
from rag.index.feedback import FeedbackStore
from rag.pipeline import Pipeline
from tests.api_support import QUESTION, serve_api, sse_events
from tests.conftest import SEEDS, LiveServer

SEED_NAME = next(SEEDS.iterdir()).name


def test_vote_with_comment_is_stored_and_listed(
    live: LiveServer, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as client:
        answer = client.post("/v1/ask", json={"question": QUESTION}).json()
        answer_id = answer["answer_id"]
        vote = {"answer_id": answer_id, "rating": "not_helpful", "comment": "It forgets the oil.", "user": "ana"}
        r = client.post("/v1/feedback", json=vote)
        assert r.status_code == 200, r.text
        # A name is kept under the caller (here no key: 'anonymous'): a name alone owns no vote.
        assert r.json() == {"recorded": {"answer_id": answer_id, "user": "anonymous/ana", "rating": "not_helpful"}}
        # The same person changing their mind replaces the vote; another person's vote is a second one.
        assert client.post("/v1/feedback", json={**vote, "rating": "helpful", "comment": ""}).status_code == 200
        assert client.post("/v1/feedback", json={"answer_id": answer_id, "rating": "helpful"}).status_code == 200

        listed = client.get("/v1/feedback").json()
        assert listed["counts"] == {"helpful": 2, "not_helpful": 0}
        users = {f["user"]: f for f in listed["feedback"]}
        assert set(users) == {"anonymous/ana", "anonymous"}
        ana = users["anonymous/ana"]
        assert ana["surface"] == "api" and ana["question"] == QUESTION
        assert ana["answer"] == answer["answer"] and ana["citations"][0]["name"] == SEED_NAME

        # The stream's final event carries an id too; the chat page names itself as the surface.
        with client.stream(
            "POST", "/v1/ask/stream", json={"question": QUESTION}, headers={"X-Seedrag-Client": "page"}
        ) as r:
            done = sse_events(r)[-1][1]
        comment = {"answer_id": done["answer_id"], "rating": "not_helpful", "comment": "Too short."}
        assert client.post("/v1/feedback", json=comment).status_code == 200
        newest = client.get("/v1/feedback", params={"rating": "not_helpful"}).json()["feedback"][0]
        assert newest["surface"] == "page" and newest["comment"] == "Too short."

        unknown = client.post("/v1/feedback", json={"answer_id": "nope", "rating": "helpful"})
        assert unknown.status_code == 404 and "no answer with id 'nope'" in unknown.json()["error"]["message"]
        bad = client.post("/v1/feedback", json={"answer_id": answer_id, "rating": "meh"})
        assert bad.status_code == 422 and bad.json()["error"]["type"] == "invalid_request"
        long = client.post("/v1/feedback", json={"answer_id": answer_id, "rating": "helpful", "comment": "x" * 2001})
        assert long.status_code == 422

    from rag.cli import main

    monkeypatch.setenv("RAG_DATA_DIR", str(settings.data_dir))
    with pytest.raises(SystemExit) as exited:
        main(["feedback"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "Comment: Too short." in out and f"Q: {QUESTION}" in out and "not_helpful" in out


def test_a_key_cannot_vote_as_another_key(pipeline: Pipeline) -> None:
    pipeline.ingestor.ingest([SEEDS])
    boss, reader = {"Authorization": "Bearer boss-key"}, {"Authorization": "Bearer reader-key"}
    with serve_api(pipeline, api_keys="reader-key", admin_keys="boss-key") as api:

        def asked(headers: dict[str, str]) -> str:
            r = httpx.post(f"{api.url}/v1/ask", json={"question": QUESTION}, headers=headers, timeout=30)
            return r.json()["answer_id"]  # type: ignore[no-any-return]

        answer_id, readers_id = asked(boss), asked(reader)
        vote = {"answer_id": answer_id, "rating": "helpful", "comment": "Right.", "user": "ana"}
        mine = httpx.post(f"{api.url}/v1/feedback", json=vote, headers=boss).json()["recorded"]["user"]
        # The read key sends the admin's name, and then no name: the answer was not given to it, so it is unknown
        # to it (404), and neither replaces the admin's vote.
        forged = {**vote, "rating": "not_helpful", "comment": "Wrong."}
        assert httpx.post(f"{api.url}/v1/feedback", json=forged, headers=reader).status_code == 404
        plain = {**forged, "user": None}
        assert httpx.post(f"{api.url}/v1/feedback", json=plain, headers=reader).status_code == 404
        # On its own answer, under the admin's name, it votes as itself; the admin may vote on any answer.
        own = {**forged, "answer_id": readers_id}
        theirs = httpx.post(f"{api.url}/v1/feedback", json=own, headers=reader).json()["recorded"]["user"]
        assert httpx.post(f"{api.url}/v1/feedback", json={**own, "user": None}, headers=boss).status_code == 200
        listed = httpx.get(f"{api.url}/v1/feedback", headers=boss).json()
    by_user = {f["user"]: f for f in listed["feedback"]}
    assert mine != theirs and mine.endswith("/ana") and theirs.endswith("/ana")
    assert by_user[mine]["rating"] == "helpful" and by_user[mine]["comment"] == "Right."
    assert listed["counts"] == {"helpful": 1, "not_helpful": 2}
    assert set(by_user) == {mine, theirs, mine.split("/")[0]}
    # Keys are named by a hash keyed with the store's own secret: not the plain sha256 anyone can compute.
    for key in ("boss-key", "reader-key"):
        plain_hash = hashlib.sha256(key.encode()).hexdigest()
        assert not any(plain_hash[:8] in u for u in by_user)
    assert len({u.split("/")[0] for u in by_user}) == 2


def test_a_feedback_file_from_before_comments_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite"
    with sqlite3.connect(path) as db:  # the schema as Slack-only versions wrote it
        db.executescript(
            "CREATE TABLE answers (answer_id TEXT PRIMARY KEY, created REAL NOT NULL, surface TEXT NOT NULL, "
            "place TEXT NOT NULL, asker TEXT NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL, "
            "refused INTEGER NOT NULL, citations TEXT NOT NULL);"
            "CREATE TABLE feedback (answer_id TEXT NOT NULL, user TEXT NOT NULL, rating TEXT NOT NULL, "
            "at REAL NOT NULL, PRIMARY KEY (answer_id, user));"
            "INSERT INTO answers VALUES ('a1', 1.0, 'slack', 'C1', 'U1', 'q?', 'a.', 0, '[]');"
            "INSERT INTO feedback VALUES ('a1', 'U1', 'helpful', 2.0);"
        )
    db.close()
    store = FeedbackStore(path)
    store.record("a1", "U2", "not_helpful", "wrong year")
    by_user = {r.user: r for r in store.recent()}
    assert by_user["U1"].comment == "" and by_user["U2"].comment == "wrong year"
