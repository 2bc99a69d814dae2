"""The answer-level harness: sampling, the summary against hand-counted verdicts, and `rag eval-answers` end to
end on a tiny QA folder through the real pipeline (Chroma on disk, the ONNX embedder, a fake LLM over HTTP)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.eval.answers import Question, Verdict, load_qa, sample, summarize
from tests.fakes.openai_server import FakeOpenAI

TINY = Path(__file__).parent / "data" / "qa_tiny"


def q(qid: str, answers: list[str]) -> Question:
    return Question(qid, f"question {qid}?", answers, "doc" if answers else None)


def verdict(question: Question, correct: bool, refused: bool, f1: float, precise: list[bool], hit: bool) -> Verdict:
    return Verdict(question, "a", refused, correct, f1, f1, [{}] * len(precise), precise, hit, 2.0)


def test_sample_is_deterministic_and_split_by_kind() -> None:
    questions = [q(f"o{i}", ["x"]) for i in range(20)] + [q(f"y{i}", ["Yes"]) for i in range(20)]
    questions += [q(f"u{i}", []) for i in range(20)]
    picked = sample(questions, 12)
    assert [p.kind for p in picked].count("open") == 6
    assert [p.kind for p in picked].count("yesno") == 3 and [p.kind for p in picked].count("unanswerable") == 3
    assert [p.qid for p in sample(list(reversed(questions)), 12)] == [p.qid for p in picked]
    assert len(sample(questions, None)) == 60


def test_summary_by_hand() -> None:
    o1, o2, o3 = q("o1", ["x"]), q("o2", ["x"]), q("o3", ["x"])
    y1, u1, u2 = q("y1", ["Yes"]), q("u1", []), q("u2", [])
    vs = [
        verdict(o1, True, False, 1.0, [True, False], True),  # right, one of two citations precise
        verdict(o2, False, False, 0.5, [True], False),  # wrong answer, its citation precise
        verdict(o3, False, True, 0.0, [], True),  # refused though the gold document was retrieved
        verdict(y1, True, False, 0.4, [True], True),
        verdict(u1, False, True, 0.0, [], False),
        verdict(u2, False, False, 0.0, [], False),  # answered what it should have refused
    ]
    s = summarize(vs)
    o = s["open"]
    assert (o["questions"], o["correct"], o["refused"]) == (3, 1, 1)
    assert o["accuracy"] == round(1 / 3, 4) and o["f1"] == 0.5  # (1.0 + 0.5 + 0) / 3
    assert o["citation_precision"] == round(2 / 3, 4) and o["citations"] == 3  # precise citations / all citations
    assert o["retrieval_hit_rate"] == round(2 / 3, 4)
    assert s["yesno"]["correct"] == 1
    assert (s["unanswerable"]["refused"], s["unanswerable"]["refusal_rate"]) == (1, 0.5)
    assert s["seconds_per_answer"]["p50"] == 2.0


def test_load_qa_reads_the_layout() -> None:
    data = load_qa(TINY)
    assert set(data.corpus) == {"bees", "tides", "chess"}
    assert [x.kind for x in data.questions] == ["open", "open", "yesno", "unanswerable"]


def test_rag_eval_answers_cli_on_a_tiny_folder(tmp_path: Path, fake_llm: FakeOpenAI) -> None:
    env = {
        **os.environ,
        "RAG_DATA_DIR": str(tmp_path / "data"),
        "OPENAI_BASE_URL": fake_llm.base_url,
        "OPENAI_API_KEY": "test",
        "RAG_LLM_RETRIES": "0",
    }
    out_json = tmp_path / "answers.json"
    cmd = [sys.executable, "-m", "rag", "eval-answers", str(TINY), "--json", str(out_json), "-q"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "open   correct 2/2" in done.stdout and "unanswerable refused 1/1" in done.stdout
    written = json.loads(out_json.read_text(encoding="utf-8"))
    by_id = {x["id"]: x for x in written["questions"]}
    assert by_id["q1"]["correct"] and by_id["q1"]["citations"][0]["doc"] == "bees"
    assert by_id["q1"]["citation_precise"] == [True] and by_id["q1"]["retrieval_hit"] is True
    quote = by_id["q1"]["citations"][0]["quote"]
    assert quote and "six weeks" in quote["text"]
    assert by_id["q4"]["refused"] and by_id["q4"]["kind"] == "unanswerable"
    assert written["summary"]["open"]["citation_precision"] == 1.0

    bad = subprocess.run(
        [sys.executable, "-m", "rag", "eval-answers", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert bad.returncode == 2 and "no corpus.jsonl" in bad.stderr


@pytest.mark.parametrize("limit", [2])
def test_limit_keeps_the_kinds(limit: int) -> None:
    picked = sample(load_qa(TINY).questions, limit)
    assert len(picked) == limit


def test_a_recorded_run_replays_without_the_model_and_counts_its_seconds(tmp_path: Path, fake_llm: FakeOpenAI) -> None:
    """--record: every model reply is kept by its exact request, so a change to the checks reruns with no model
    call; a replayed question still counts the seconds its replies took when recorded."""
    env = {
        **os.environ,
        "RAG_DATA_DIR": str(tmp_path / "data"),
        "OPENAI_BASE_URL": fake_llm.base_url,
        "OPENAI_API_KEY": "test",
        "RAG_LLM_RETRIES": "0",
    }
    record, first, second = tmp_path / "replies.jsonl", tmp_path / "a.json", tmp_path / "b.json"
    base = [sys.executable, "-m", "rag", "eval-answers", str(TINY), "-q", "--concurrency", "2", "--record", str(record)]
    fake_llm.delay = 0.3
    done = subprocess.run([*base, "--json", str(first)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    asked = len([r for r in fake_llm.requests if "messages" in r])
    assert asked >= 3 and "0 replayed" in done.stdout
    fake_llm.requests.clear()
    done = subprocess.run([*base, "--json", str(second)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [r for r in fake_llm.requests if "messages" in r] == [] and f"{asked} replayed, 0 asked" in done.stdout
    a, b = (json.loads(p.read_text(encoding="utf-8")) for p in (first, second))
    assert [x["answer"] for x in a["questions"]] == [x["answer"] for x in b["questions"]]
    # The replayed run adds the recorded seconds: each answered question took at least its model call.
    assert all(x["seconds"] >= 0.3 for x in b["questions"] if x["kind"] != "unanswerable" or not x["refused"])


def test_multi_part_questions_are_scored_by_their_parts() -> None:
    multi = Question("m1", "Which colours?", ["red", "deep blue"], "doc", multi=True)
    assert multi.kind == "multi"
    from rag.eval import metrics as m

    assert m.parts_found("Red and deep blue.", multi.answers) == 1.0
    assert m.parts_found("Only red.", multi.answers) == 0.5
    assert m.is_correct("Red, deep blue", multi.answers, "multi", False)
    assert not m.is_correct("Red", multi.answers, "multi", False)
    s = summarize([Verdict(multi, "Red.", False, False, 0.5, 0.5, [{}], [True], True, 1.0)])
    assert s["multi"]["parts_found"] == 0.5 and s["multi"]["correct"] == 0
