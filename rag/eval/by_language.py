"""Answer quality per language, for a QA folder whose questions carry `metadata.lang` (XQuAD: the same
questions in 12 languages): the figures of each language side by side, and whether answers came back in the
question's language."""

from __future__ import annotations

import csv
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.answering.language import detect

if TYPE_CHECKING:
    from rag.eval.answers import Verdict


def judgements(folder: Path) -> dict[str, dict[str, int]]:
    """The folder's qrels (qrels/dev.tsv, else test, else train), {query id: {doc id: score}}; {} if none.
    A QA folder converted from a retrieval set (XQuAD) names its gold documents there, not in metadata.doc."""
    qrels = folder / "qrels"
    path = next((qrels / f"{s}.tsv" for s in ("dev", "test", "train") if (qrels / f"{s}.tsv").exists()), None)
    if path is None:
        return {}
    out: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            out.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    return out


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def in_language(answer: str, lang: str) -> bool:
    """The answer, read by the language detector, is in `lang` (markers [n] aside)."""
    return detect(answer) == lang


def summarize(verdicts: Sequence[Verdict]) -> dict[str, dict[str, Any]]:
    """Per question language, in order of first appearance; {} when no question has one."""
    langs = list(dict.fromkeys(v.question.lang for v in verdicts if v.question.lang))
    out: dict[str, dict[str, Any]] = {}
    for lang in langs:
        vs = [v for v in verdicts if v.question.lang == lang]
        answerable = [v for v in vs if v.question.kind != "unanswerable"]
        answered = [v for v in answerable if not v.refused]
        cites = [ok for v in answered for ok in v.precise]
        hits = [v.retrieval_hit for v in vs if v.retrieval_hit is not None]
        same = sum(in_language(v.answer, lang) for v in answered)
        out[lang] = {
            "questions": len(vs),
            "correct": sum(v.correct for v in answerable),
            "accuracy": _rate(sum(v.correct for v in answerable), len(answerable)),
            "f1": round(statistics.fmean(v.f1 for v in answerable), 4) if answerable else None,
            "refused": sum(v.refused for v in vs),
            "refusal_rate": _rate(sum(v.refused for v in vs), len(vs)),
            "citation_precision": _rate(sum(cites), len(cites)),
            "citations": len(cites),
            "retrieval_hit_rate": _rate(sum(hits), len(hits)),
            "answered_in_language": _rate(same, len(answered)),
            "errors": sum(v.error is not None for v in vs),
        }
    return out


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def table(rows: dict[str, dict[str, Any]]) -> list[str]:
    """The per-language figures as text lines, one language a line."""
    if not rows:
        return []
    lines = ["lang  questions  correct  F1     refused  cit.prec  retr.hit  in its language"]
    for lang, r in rows.items():
        f1 = "-" if r["f1"] is None else f"{r['f1']:.3f}"
        lines.append(
            f"{lang:<5} {r['questions']:>9}  {_pct(r['accuracy']):>7}  {f1:<5}  {r['refused']:>7}  "
            f"{_pct(r['citation_precision']):>8}  {_pct(r['retrieval_hit_rate']):>8}  {_pct(r['answered_in_language'])}"
            + (f"  errors {r['errors']}" if r["errors"] else "")
        )
    return lines
