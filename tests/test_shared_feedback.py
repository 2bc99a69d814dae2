"""Feedback in the shared database (RAG_DATABASE_URL): two store instances are two replicas of one deployment."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from rag.config import Settings
from rag.index.feedback import KEEP_UNRATED_S, FeedbackStore, PostgresFeedback, UnknownAnswer
from rag.index.storage import make_feedback

CITATIONS = [{"id": 1, "name": "policy.md", "start": 10, "end": 60, "source": "uploads/policy.md"}]


def remember(store: PostgresFeedback, answer_id: str, question: str = "Who approves travel?") -> None:
    store.remember(
        answer_id,
        surface="slack",
        place="C1/171.2",
        asker="U1",
        question=question,
        answer="The finance director [1].",
        refused=False,
        citations=CITATIONS,
    )


def test_a_vote_taken_by_one_replica_is_listed_by_another(postgres_url: str) -> None:
    # Replicas starting at once all find the tables (their creation is serialised).
    with ThreadPoolExecutor(4) as pool:
        a, b, *_ = pool.map(lambda _: PostgresFeedback(postgres_url, "docs"), range(4))
    other = PostgresFeedback(postgres_url, "other-collection")

    remember(a, "ans1")
    b.record("ans1", "U2", "not_helpful", "wrong year")
    [vote] = a.recent()
    assert (vote.user, vote.rating, vote.comment, vote.surface, vote.place) == (
        "U2",
        "not_helpful",
        "wrong year",
        "slack",
        "C1/171.2",
    )
    assert vote.question == "Who approves travel?" and vote.citations == CITATIONS and vote.refused is False
    a.record("ans1", "U2", "helpful")  # the same person changes their vote, on the other replica
    a.record("ans1", "U3", "helpful")
    assert b.counts() == {"helpful": 2, "not_helpful": 0}
    assert [r.user for r in b.recent()] == ["U3", "U2"] and b.recent(rating="not_helpful") == []
    assert len(b.recent(limit=1)) == 1

    # Another deployment sharing the database neither sees these votes nor can vote on these answers.
    assert other.recent() == [] and other.counts() == {"helpful": 0, "not_helpful": 0}
    with pytest.raises(UnknownAnswer):
        other.record("ans1", "U4", "helpful")
    with pytest.raises(UnknownAnswer):
        b.record("never-given", "U2", "helpful")
    with pytest.raises(ValueError, match="rating must be one of"):
        b.record("ans1", "U2", "meh")


def test_unrated_answers_are_dropped_after_30_days_rated_ones_kept(postgres_url: str) -> None:
    store = PostgresFeedback(postgres_url, "docs")
    remember(store, "old-unrated")
    remember(store, "old-rated")
    store.record("old-rated", "U1", "helpful")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE feedback_answers SET created = created - %s", (KEEP_UNRATED_S + 60,))
    remember(PostgresFeedback(postgres_url, "docs"), "new")  # remembering prunes, whichever replica does it
    with pytest.raises(UnknownAnswer):
        store.record("old-unrated", "U1", "helpful")
    store.record("old-rated", "U2", "not_helpful")
    store.record("new", "U1", "helpful")
    assert store.counts() == {"helpful": 2, "not_helpful": 1}


def test_settings_choose_the_store(postgres_url: str, tmp_path: Path) -> None:
    embedded = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert isinstance(make_feedback(embedded), FeedbackStore) and (tmp_path / "feedback.sqlite").exists()
    shared = Settings(_env_file=None, data_dir=tmp_path / "shared", database_url=postgres_url)  # type: ignore[call-arg]
    assert isinstance(make_feedback(shared), PostgresFeedback) and not (tmp_path / "shared").exists()


def test_rag_feedback_reads_the_shared_database(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rag.cli import main

    store = PostgresFeedback(postgres_url, "docs")
    remember(store, "ans1")
    store.record("ans1", "U2", "not_helpful", "Too short.")
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))  # a machine that never took a vote itself
    monkeypatch.setenv("RAG_DATABASE_URL", postgres_url)
    for collection, expected in (("docs", "Comment: Too short."), ("other", "no feedback yet in the shared database")):
        monkeypatch.setenv("RAG_COLLECTION", collection)
        with pytest.raises(SystemExit) as exited:
            main(["feedback"])
        assert exited.value.code == 0 and expected in capsys.readouterr().out
    assert not (tmp_path / "data" / "feedback.sqlite").exists()


def test_replicas_share_the_voter_salt(postgres_url: str, tmp_path: Path) -> None:
    a, b = PostgresFeedback(postgres_url, "salted"), PostgresFeedback(postgres_url, "salted")
    salt = a.salt()
    assert len(salt) == 32 and b.salt() == salt  # one key is one voter, whichever replica takes the vote
    assert PostgresFeedback(postgres_url, "salted-other").salt() != salt
    local = FeedbackStore(tmp_path / "feedback.sqlite")
    assert local.salt() == FeedbackStore(tmp_path / "feedback.sqlite").salt() != salt
