"""The answer step's ideas (issue 22), each a row measured with `rag eval-answers` on the same dev questions.

136 dev questions of cmu-qa (`--limit 136`: 68 open, 34 yes/no, 34 unanswerable) and the 18 multi-part questions
of bench/data/cmu-multipart.jsonl, two at a time on the local model's two slots. The naive pipeline and the
evidence-ids step are model runs whose replies are recorded (bench/results/answers/replies-*.jsonl); the other
rows change only the checks, so they replay those replies (seconds each) and count the seconds the replies took
when recorded. A row whose JSON exists is read, not rerun (--rerun NAME runs it again).

    python bench/answer_step.py            # the table from the results at hand (runs what is missing)
    python bench/answer_step.py --rerun ids-default
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "answers"
DATA = ROOT.parent / "shared" / "evaldata" / "cmu-qa"
MULTI = ROOT / "bench" / "data" / "cmu-multipart.jsonl"
LIMIT = "136"

# The recorded run asks the entailment question of every claim, so replays can drop it where a rule allows.
RECORDED = {"RAG_ANSWER_SKIP_SPAN": "false"}

# name, what it is, pipeline, settings (RAG_* over the defaults), recording it replays (or records)
ROWS: list[tuple[str, str, str, dict[str, str], str]] = [
    ("naive", "naive: dense top-4 ~1,000-char passages, classic prompt, no checks", "naive", {}, "naive"),
    (
        "quote-today",
        "before (4ace667's step): copied quote + answer, quote located, names/lexical/entailment, no re-anchoring",
        "default",
        {"RAG_ANSWER_EVIDENCE": "quote"},
        "quote",
    ),
    (
        "ids-all-checks",
        "(a) evidence by sentence ids (10 sentences shown), re-anchored, entailment asked of every claim",
        "default",
        RECORDED,
        "ids",
    ),
    (
        "ids-named-only",
        "(a) without re-anchoring: checks run on the sentences the model named",
        "default",
        {"RAG_ANSWER_REALIGN": "false"},
        "ids",
    ),
    (
        "ids-posthoc",
        "(b) post-hoc attribution: the named ids ignored, each claim aligned by code to the sentence holding its words",
        "default",
        {"RAG_ANSWER_POSTHOC": "true"},
        "ids",
    ),
    (
        "ids-default",
        "**default**: (a) + re-anchoring (c), entailment only when a claim is not a span of its evidence, "
        "P(yes) >= 0.5, numbers and non-answer rules",
        "default",
        {},
        "ids",
    ),
    *[
        (
            f"ids-support-{t}",
            f"the default with RAG_ANSWER_MIN_SUPPORT={t} (calibration: P(yes) a claim needs)",
            "default",
            {"RAG_ANSWER_MIN_SUPPORT": t},
            "ids",
        )
        for t in ("0.3", "0.7", "0.9")
    ],
    (
        "ids-no-retry",
        "the default without the second pass after a refusal",
        "default",
        {"RAG_ANSWER_RETRY_REFUSALS": "false"},
        "ids",
    ),
    (
        "ids-no-entailment",
        "the default without any entailment call (words, names, numbers only)",
        "default",
        {"RAG_ANSWER_ENTAILMENT": "false"},
        "ids",
    ),
]


def result_path(name: str, part: str) -> Path:
    return RESULTS / f"{part}-{name}.json"


def run(name: str, pipeline: str, env: dict[str, str], record: str, part: str) -> dict[str, Any] | None:
    out = result_path(name, part)
    cmd = [sys.executable, "-m", "rag", "eval-answers", str(DATA), "--pipeline", pipeline, "-q", "--json", str(out)]
    cmd += ["--record", str(RESULTS / f"replies-{record}.jsonl")]
    cmd += ["--limit", LIMIT] if part == "dev136" else ["--queries", str(MULTI)]
    print(f"running {part} {name}: {' '.join(f'{k}={v}' for k, v in env.items())}", file=sys.stderr)
    done = subprocess.run(cmd, env={**os.environ, **env}, cwd=ROOT, text=True, capture_output=True)
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        return None
    print(done.stdout, file=sys.stderr)
    return json.loads(out.read_text(encoding="utf-8"))


def row(name: str, what: str, dev: dict[str, Any] | None, multi: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "what": what}
    if dev:
        s = dev["summary"]
        o, y, u = s.get("open", {}), s.get("yesno", {}), s.get("unanswerable", {})
        answered = [q for q in dev["questions"] if not q["refused"] and q["kind"] in ("open", "yesno")]
        cites = [ok for q in answered for ok in q["citation_precise"]]
        out.update(
            questions=s["questions"],
            open_correct=f"{o.get('correct')}/{o.get('questions')}",
            yesno_correct=f"{y.get('correct')}/{y.get('questions')}",
            answerable_refused=o.get("refused", 0) + y.get("refused", 0),
            unanswerable_refused=f"{u.get('refused')}/{u.get('questions')}",
            f1_open=o.get("f1"),
            citation_precision=round(sum(cites) / len(cites), 3) if cites else None,
            p50_s=s["seconds_per_answer"]["p50"],
            errors=sum(k.get("errors", 0) for k in (o, y, u)),
        )
    if multi:
        mm = multi["summary"].get("multi", {})
        out.update(
            multi_correct=f"{mm.get('correct')}/{mm.get('questions')}",
            multi_parts_found=mm.get("parts_found"),
            multi_claims=_claims_shown(multi["questions"]),
        )
    return out


def _claims_shown(questions: list[dict[str, Any]]) -> float | None:
    """Mean number of claims shown per answered question."""
    shown = [
        sum(c.get("text") is not None for c in q["checks"].get("claims", [])) for q in questions if not q["refused"]
    ]
    return round(statistics.fmean(shown), 2) if shown else None


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| row | open correct | yes/no correct | answerable refused | unanswerable refused | open F1 | "
        "citation precision | p50 s | multi-part: all parts / parts found |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        if "questions" not in r:
            continue
        cp = "-" if r["citation_precision"] is None else f"{100 * r['citation_precision']:.0f}%"
        multi = f"{r['multi_correct']} / {100 * r['multi_parts_found']:.0f}%" if r.get("multi_correct") else "-"
        lines.append(
            f"| {r['what']} | {r['open_correct']} | {r['yesno_correct']} | {r['answerable_refused']} | "
            f"{r['unanswerable_refused']} | {r['f1_open']:.3f} | {cp} | {r['p50_s']:.1f} | {multi} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rerun", action="append", default=[], help="run this row again (repeatable)")
    ap.add_argument("--only", action="append", default=[], help="only these rows")
    ap.add_argument("--no-run", action="store_true", help="only read results at hand")
    args = ap.parse_args()
    rows = []
    for name, what, pipeline, env, record in ROWS:
        if args.only and name not in args.only:
            continue
        got = {}
        for part in ("dev136", "multi"):
            path = result_path(name, part)
            if path.exists() and name not in args.rerun:
                got[part] = json.loads(path.read_text(encoding="utf-8"))
            elif not args.no_run:
                got[part] = run(name, pipeline, env, record, part)
        rows.append(row(name, what, got.get("dev136"), got.get("multi")))
    print(table(rows))
    (RESULTS / "issue22-table.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
