"""The seed article's questions (tests/data/seed_questions.jsonl) through the real answer step: answered with a
citation holding the expected words, or refused when they must be. Model replies are recorded, so a change to
the checks replays in seconds: `python bench/seed_questions.py [--record FILE]`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rag.config import Settings
from rag.eval.recording import RecordedLLM, Recording
from rag.pipeline import build

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--record", default=str(ROOT / "bench" / "results" / "answers" / "replies-seed.jsonl"))
    args = ap.parse_args()
    settings = Settings()
    pipe = build(settings)
    pipe.ingestor.ingest([ROOT / "seeds"], progress=False)
    recording = Recording(Path(args.record))
    pipe.answerer.llm = RecordedLLM.wrap(pipe.llm, recording)
    rows = [json.loads(line) for line in (ROOT / "tests" / "data" / "seed_questions.jsonl").read_text().splitlines()]
    good = 0
    for row in rows:
        recording.reset_thread()
        t0 = time.perf_counter()
        answer = pipe.answerer.ask(row["question"])
        seconds = time.perf_counter() - t0 + recording.replayed_seconds()
        want = row.get("fact") or []
        ok = answer.refused if row.get("refuse") or not want else (
            not answer.refused and all(w.lower() in answer.answer.lower() for w in want)
        )
        good += ok
        why = answer.checks.get("withheld", "")
        print(f"{'ok ' if ok else 'BAD'} {seconds:5.1f}s  {row['question']}\n      -> {answer.answer}  {why}")
    print(f"{good}/{len(rows)} as expected; replies: {recording.hits} replayed, {recording.misses} asked")
    pipe.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
