"""What the answer step decided, as types: the closed set of reasons an answer or a claim is withheld, and the
record of each claim's checks. `Answer.checks` is this record as JSON, read by the API, the CLI, the page,
Slack and /metrics; the strings below are that contract."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Withheld(StrEnum):
    QUOTE_NOT_FOUND = "quote_not_found"  # the copied quote is in no passage
    NO_EVIDENCE = "no_evidence"  # the claim names no sentence that was shown
    RESTATES_QUESTION = "restates_question"  # the claim adds nothing to the question, and no sentence could stand in
    QUESTION_NAMES_NOT_IN_PASSAGE = "question_names_not_in_passage"  # the evidence is about someone/something else
    ANSWER_NOT_IN_PASSAGE = "answer_not_in_passage"  # the claim's new words are in no retrieved sentence
    NUMBER_NOT_IN_EVIDENCE = "number_not_in_evidence"  # a figure the evidence does not state (arithmetic, a guess)
    NOT_ENTAILED = "quote_does_not_state_answer"  # the model judged the evidence not to state the claim
    NO_VERDICT = "support_unknown"  # no judgement could be had: not supported (fails closed)
    YES_NO_UNSETTLED = "quote_does_not_settle_yes_no"  # the evidence alone gives the other yes/no
    NO_SUPPORTED_SENTENCE = "no_supported_sentence"  # a plain reply with no sentence a passage supports


# Why a draft was not shown, in the words a user reads ("A drafted answer was withheld: ...").
PLAIN = {
    Withheld.QUOTE_NOT_FOUND: "the sentence it quoted is in none of the passages",
    Withheld.NO_EVIDENCE: "it named no sentence of the passages as its evidence",
    Withheld.RESTATES_QUESTION: "it only restated the question",
    Withheld.QUESTION_NAMES_NOT_IN_PASSAGE: "its passage does not mention {missing}",
    Withheld.ANSWER_NOT_IN_PASSAGE: "no passage sentence holds the answer's words",
    Withheld.NUMBER_NOT_IN_EVIDENCE: "it gives a figure ({numbers}) that its sentence does not state",
    Withheld.NOT_ENTAILED: "its sentence does not say that",
    Withheld.NO_VERDICT: "whether its sentence says that could not be checked",
    Withheld.YES_NO_UNSETTLED: "its sentence, read alone, gives the other answer",
    Withheld.NO_SUPPORTED_SENTENCE: "no passage supports any of its sentences",
}


def plain_reason(checks: dict[str, Any]) -> str | None:
    """The withheld reason of an answer's `checks`, in plain words; None when nothing was withheld."""
    try:
        reason = Withheld(checks.get("withheld", ""))
    except ValueError:
        return None
    first = (checks.get("claims") or [{}])[0]
    missing = ", ".join(first.get("missing") or checks.get("missing") or []) or "what the question names"
    return PLAIN[reason].format(missing=missing, numbers=", ".join(first.get("numbers") or []))


@dataclass
class ClaimCheck:
    """One claim of the model's reply, where its evidence is and what each check said of it."""

    draft: str  # the claim as the model wrote it
    named: list[int]  # sentence ids the model gave as evidence
    evidence: list[int] = field(default_factory=list)  # sentence ids the checks ran on
    anchor: str = "named"  # named | realigned | quote | none
    passage: int | None = None  # 1-based passage number of the (first) evidence sentence
    spans: list[tuple[int, int]] = field(default_factory=list)  # evidence spans in their documents
    lexical: float | None = None  # share of the claim's new words found in its evidence
    missing: list[str] = field(default_factory=list)  # question names the evidence's passage lacks
    numbers: list[str] = field(default_factory=list)  # figures of the claim its evidence lacks
    entailment: str = "not_asked"  # span (the claim is a span of its evidence) | asked | not_asked
    support: float | None = None  # P(yes) that the evidence states the claim, when asked
    text: str | None = None  # the claim as shown; None when withheld
    made: str = "model"  # model | quote (the evidence sentence stands in) | polarity+quote
    # The question's, the claim's and its evidence's language, and the word checks that could not run across
    # two languages (the P(yes) support check is then what stands between the claim and the user).
    languages: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    withheld: Withheld | None = None
    failed: list[Withheld] = field(default_factory=list)  # every check that failed, in order; `withheld` is the first

    def fail(self, reason: Withheld) -> None:
        self.failed.append(reason)
        if self.withheld is None:
            self.withheld = reason

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["withheld"] = None if self.withheld is None else str(self.withheld)
        out["failed"] = [str(f) for f in self.failed]
        return out
