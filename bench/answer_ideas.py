"""Answer-step ideas, each measured with `rag eval-answers` on the same deterministic sample of dev questions.

Every row is one run of the harness with some settings changed (RAG_* variables); the first two are the
answer step as it was before the evidence-first design and the naive pipeline, the peers to beat. A row whose
JSON is already in bench/results/answers/ is read, not rerun (use --rerun NAME to run it again). Prints the
README's table and writes bench/results/answers/table.json.

    python bench/answer_ideas.py                            # the table from the results at hand
    python bench/answer_ideas.py --run --limit 40           # also run the rows that have no results yet
    python bench/answer_ideas.py --rerun default            # one row again
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "answers"
DATA = ROOT.parent / "shared" / "evaldata" / "cmu-qa"

# name, what it is, pipeline, settings changed from the defaults, kept?
IDEAS: list[tuple[str, str, str, dict[str, str] | None, str]] = [
    # env None: a run of earlier code, kept as its JSON; it cannot be rerun by settings.
    ("today", "before (f117726): free-text answer, sentence support check", "default", None, "replaced"),
    ("naive", "naive: dense top-4 ~1,000-char passages, classic prompt, no checks", "naive", {}, "peer"),
    (
        "default-first-try",
        "evidence first, first try: the prompt asked for Yes/No; entailment on every answer",
        "default",
        None,
        "replaced",
    ),
    (
        "default-second-try",
        "second try: no Yes/No line; a yes/no opened by the quoted sentence asked alone, overriding the model",
        "default",
        None,
        "replaced",
    ),
    (
        "default",
        "**default**: evidence first, JSON schema, quote located, names + lexical + entailment checks, "
        "a yes/no the quoted sentence contradicts is withheld, one retry after a refusal",
        "default",
        {},
        "**kept**",
    ),
    (
        "no-schema",
        "the default without the JSON schema (plain-text Quote:/Answer:)",
        "default",
        {"RAG_ANSWER_SCHEMA": "false"},
        "",
    ),
    ("top3", "the default with 3 passages instead of 5", "default", {"RAG_TOP_K": "3"}, ""),
]

# Rows computed from the default run's own record (every check runs and is recorded, and so is the model's
# draft): what the answers would have been with one part of the design left out. Same replies, no rerun.
ABLATIONS: list[tuple[str, str, str]] = [
    ("no-retry", "without the second pass after a refusal", "first reply refused -> refused"),
    ("no-entailment", "without the entailment check", "entailment ignored"),
    ("no-names", "without the question-names check", "names ignored"),
    ("no-lexical", "without the lexical check", "lexical ignored"),
    ("no-yes-no-settle", "a yes/no the quoted sentence contradicts kept as the model wrote it", "settle ignored"),
    ("no-checks", "no support checks at all (quote located only)", "names, lexical, entailment ignored"),
    ("no-quote-check", "nothing checked: the model's draft shown whenever it answered", "all ignored"),
]


def run(name: str, pipeline: str, env: dict[str, str], limit: int) -> dict:
    out = RESULTS / f"{name}.json"
    cmd = [
        sys.executable,
        "-m",
        "rag",
        "eval-answers",
        str(DATA),
        "--limit",
        str(limit),
        "--json",
        str(out),
        "-q",
        "--pipeline",
        pipeline,
    ]
    print(f"running {name}: {' '.join(f'{k}={v}' for k, v in env.items())} {' '.join(cmd[2:])}", file=sys.stderr)
    subprocess.run(cmd, check=True, cwd=ROOT, env={**os.environ, **env})
    return json.loads(out.read_text())


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def row(name: str, what: str, kept: str, result: dict) -> dict:
    s = result["summary"]
    o, y, u = s.get("open", {}), s.get("yesno", {}), s.get("unanswerable", {})
    return {
        "idea": name,
        "what": what,
        "kept": kept,
        "questions": s["questions"],
        "open_correct": f"{o.get('correct', 0)}/{o.get('questions', 0)}",
        "open_f1": o.get("f1"),
        "open_refused": o.get("refused"),
        "yesno_correct": f"{y.get('correct', 0)}/{y.get('questions', 0)}",
        "unanswerable_refused": f"{u.get('refused', 0)}/{u.get('questions', 0)}",
        "citation_precision": o.get("citation_precision"),
        "retrieval_hit": o.get("retrieval_hit_rate"),
        "p50_s": s["seconds_per_answer"].get("p50"),
        "p95_s": s["seconds_per_answer"].get("p95"),
    }


def table(rows: list[dict]) -> str:
    head = (
        "| idea | open correct | open F1 | open refused | yes/no correct | unanswerable refused | "
        "citation precision | p50 s | kept |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        lines.append(
            f"| {r['what']} | {r['open_correct']} | {r['open_f1']:.3f} | {r['open_refused']} | {r['yesno_correct']} | "
            f"{r['unanswerable_refused']} | {pct(r['citation_precision'])} | "
            f"{'–' if r['p50_s'] is None else format(r['p50_s'], '.1f')} | {r['kept']} |"
        )
    return "\n".join(lines)


def ablate(result: dict, name: str, min_lexical: float = 0.5) -> dict:
    """The summary the default run would have had without one part of the design (see ABLATIONS)."""
    from rag.eval import metrics as m
    from rag.eval.answers import Question, Verdict, summarize

    verdicts = []
    for q in result["questions"]:
        c = q.get("checks") or {}
        question = Question(q["id"], q["question"], q["gold"], q["gold_doc"])
        refused, text, passage = q["refused"], q["answer"], None
        drafted = "draft" in c
        if name == "no-retry" and c.get("first_reply") == "refused":
            refused = True
        elif drafted and refused:
            ignore = {
                "no-entailment": {"quote_does_not_state_answer"},
                "no-names": {"question_names_not_in_passage"},
                "no-lexical": {"answer_not_in_passage"},
                "no-yes-no-settle": {"quote_does_not_settle_yes_no"},
                "no-checks": {
                    "quote_does_not_state_answer",
                    "question_names_not_in_passage",
                    "answer_not_in_passage",
                    "quote_does_not_settle_yes_no",
                },
                "no-quote-check": {
                    "quote_does_not_state_answer",
                    "question_names_not_in_passage",
                    "answer_not_in_passage",
                    "quote_does_not_settle_yes_no",
                    "quote_not_found",
                },
            }.get(name, set())
            failed = set()
            if c.get("missing"):
                failed.add("question_names_not_in_passage")
            if c.get("lexical") is not None and c["lexical"] < min_lexical:
                failed.add("answer_not_in_passage")
            if c.get("entailed") is False:
                failed.add("quote_does_not_state_answer")
            if c.get("withheld") == "quote_not_found":
                failed.add("quote_not_found")
            lead = re.match(r"\W*(yes|no)\b", c.get("draft", ""), re.I)
            if c.get("polarity") and lead and lead.group(1).lower() != c["polarity"]:
                failed.add("quote_does_not_settle_yes_no")
            if failed and failed <= ignore:
                refused, text = False, c["draft"]
                passage = c.get("passage")
        precise: list[bool] = []
        if not refused and question.kind != "unanswerable":
            if passage is not None:
                p = next(x for x in q["passages"] if x["n"] == passage)
                precise = [m.contains_answer(p["text"], q["gold"]) or p["doc"] == q["gold_doc"]]
            else:
                precise = q["citation_precise"]
        verdicts.append(
            Verdict(
                question,
                text,
                refused,
                m.is_correct(text, q["gold"], question.kind, refused),
                0.0 if refused else m.best(m.recall, text, q["gold"]),
                0.0 if refused else m.best(m.f1, text, q["gold"]),
                [{}] * len(precise),
                precise,
                q["retrieval_hit"],
                q["seconds"],
            )
        )
    return {"summary": summarize(verdicts)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=80)
    ap.add_argument("--only", nargs="*", help="run/show only these rows")
    ap.add_argument("--rerun", nargs="*", default=[], help="run these rows again even if their JSON exists")
    ap.add_argument("--run", action="store_true", help="run the rows that have no results yet")
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, what, pipeline, env, kept in IDEAS:
        if args.only and name not in args.only:
            continue
        path = RESULTS / f"{name}.json"
        if path.exists() and name not in args.rerun:
            result = json.loads(path.read_text())
        elif env is not None and (args.run or name in args.rerun):
            result = run(name, pipeline, env, args.limit)
        else:
            print(f"{name}: no results in {path} (--run runs the rows settings can rebuild)", file=sys.stderr)
            continue
        rows.append(row(name, what, kept, result))
    default = RESULTS / "default.json"
    if default.exists() and not args.only:
        base = json.loads(default.read_text())
        for name, what, _ in ABLATIONS:
            r = row(name, f"{what} (from the default run's record)", "no", ablate(base, name))
            r["p50_s"] = None  # the same replies: their time is the default's, less the checks left out
            rows.append(r)
    print(table(rows))
    (RESULTS / "table.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
