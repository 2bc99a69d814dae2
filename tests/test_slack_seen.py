"""Slack's seen events in the shared database: every replica answers an event once between them."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg

from api.slack.seen import PostgresSeenEvents, SeenEvents, make_seen
from rag.config import Settings


def test_an_event_is_new_to_exactly_one_of_two_replicas(postgres_url: str) -> None:
    with ThreadPoolExecutor(4) as pool:  # replicas starting at once all find the table
        a, b, *_ = pool.map(lambda _: PostgresSeenEvents(postgres_url, "docs"), range(4))
    assert a.claim("event:Ev1", "message:C1:171.1")
    assert not b.claim("event:Ev1", "message:C1:171.1")  # Slack's retry, sent to the other replica
    # The same message under a new event id is recognised by its message key, and claims nothing.
    assert not b.claim("event:Ev2", "message:C1:171.1")
    assert b.claim("event:Ev2")
    assert a.claim("", "") and b.claim()  # no keys: nothing to recognise it by, as with SQLite
    # A deployment with another collection in the same database has its own bot: it answers too.
    assert PostgresSeenEvents(postgres_url, "other-collection").claim("event:Ev1", "message:C1:171.1")


def test_of_many_concurrent_claims_of_one_event_exactly_one_wins(postgres_url: str) -> None:
    threads = 12
    replicas = [PostgresSeenEvents(postgres_url, "docs") for _ in range(threads)]
    for round_ in range(10):
        start = threading.Barrier(threads)

        def claim(i: int, round_: int = round_, start: threading.Barrier = start) -> bool:
            start.wait()
            # Each thread its own event id for one message on odd rounds: the message key must still decide.
            event = f"event:Ev{round_}" if round_ % 2 == 0 else f"event:Ev{round_}-{i}"
            return replicas[i].claim(event, f"message:C1:{round_}")

        with ThreadPoolExecutor(threads) as pool:
            won = list(pool.map(claim, range(threads)))
        assert won.count(True) == 1, (round_, won)


def test_a_claim_expires_after_keep_s_on_every_replica(postgres_url: str) -> None:
    a, b = PostgresSeenEvents(postgres_url, "docs", keep_s=1.0), PostgresSeenEvents(postgres_url, "docs", keep_s=1.0)
    assert a.claim("sig:v0=abc") and not b.claim("sig:v0=abc")
    time.sleep(1.2)
    assert b.claim("sig:v0=abc")  # expired: free again (the row is taken over, purged or not)
    assert not a.claim("sig:v0=abc")  # and claimed anew, from now
    a.claim("sig:v0=other")
    time.sleep(1.2)
    # A new replica's first claim purges what has expired; the rest of the table is kept.
    assert PostgresSeenEvents(postgres_url, "docs", keep_s=1.0).claim("sig:v0=new")
    with psycopg.connect(postgres_url) as conn:
        assert [r[0] for r in conn.execute("SELECT key FROM slack_seen")] == ["sig:v0=new"]


def test_settings_choose_the_store(postgres_url: str, tmp_path: Path) -> None:
    embedded = make_seen(Settings(_env_file=None, data_dir=tmp_path))  # type: ignore[call-arg]
    assert isinstance(embedded, SeenEvents) and (tmp_path / "slack-events.sqlite").exists()
    embedded.close()
    shared = Settings(_env_file=None, data_dir=tmp_path / "shared", database_url=postgres_url)  # type: ignore[call-arg]
    assert isinstance(make_seen(shared), PostgresSeenEvents) and not (tmp_path / "shared").exists()
