"""Does the evidence support the claim? The one place this is decided, for every answer shape.

Three checks, cheapest first, each explainable:
- lexical: the claim's content words (stop words dropped, Snowball stems so "imports"/"importing" match)
  occur in the evidence. Words the question already holds are the claim's subject, not new facts, and are
  not asked of the evidence.
- names: most of the names the question asks about (capitalised words past its first) occur in the cited
  passage or its document's title. An answer about another person than the one asked about ("When was
  Ford born?" answered from Nixon's article) fails here, though each of its words is sourced. Half may be
  missing ("Was Celsius born in Uppsala, Sweden?" from a passage that says only Uppsala), and figures are
  not asked for: in a yes/no question a figure the passage lacks is often why the answer is no.
- entailment: the same LLM, asked a yes/no question about the quoted sentence and the proposed answer. It
  catches what words cannot: an inverted comparison, a negation, an answer to a different question.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import Stemmer

from rag.answering import language, quotes
from rag.index.terms import STOPWORDS
from rag.llm.client import LLM, LLMError

if TYPE_CHECKING:
    from rag.retrieval.retriever import Passage

log = logging.getLogger(__name__)

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
MARKER = re.compile(r"\s?\[(\d+(?:\s*,\s*\d+)*)\]")
_STEMMER = Stemmer.Stemmer("english")
YES_NO = {"yes", "no", "not"}


def fence(text: str) -> str:
    """Document text as it goes into a prompt: it cannot open or close a passage block of its own."""
    return re.sub(r"<\s*/?\s*passage\b", lambda m: m.group(0).replace("<", "‹"), text, flags=re.I)


def english_stems(text: str) -> set[str]:
    """English content words: the index's English stop words dropped, Snowball English stems."""
    words = [w for w in _WORD.findall(MARKER.sub("", text).lower()) if w not in STOPWORDS and len(w) > 1]
    return set(_STEMMER.stemWords(words))


def english_stem(word: str) -> str:
    return str(_STEMMER.stemWord(word))


def stems(text: str, lang: str = language.ENGLISH) -> set[str]:
    """Content stems of a text in `lang` (rag/answering/language.py; English by default)."""
    return language.stems(text, lang)


def lexical(claim: str, evidence: str, given: str = "", lang: str = language.ENGLISH) -> float:
    """Share of the claim's content words, less those in `given` (the question), found in the evidence."""
    words = stems(claim, lang) - stems(given, lang) - YES_NO
    if not words:
        return 1.0
    return len(words & stems(evidence, lang)) / len(words)


names = language.names
missing_names = language.missing_names
about_something_else = language.about_something_else


def entails(llm: LLM, template: str, evidence: str, question: str, answer: str) -> bool | None:
    """The model's yes/no on whether the evidence states the answer; None when it could not say."""
    prompt = template.format(evidence=fence(evidence), question=question, answer=MARKER.sub("", answer).strip())
    try:
        verdict = llm.chat([{"role": "user", "content": prompt}], max_tokens=3)
    except LLMError as e:
        log.warning("support check could not ask the LLM, keeping the lexical verdict: %s", e)
        return None
    word = re.match(r"\W*(yes|no)\b", verdict, re.I)
    return None if word is None else word.group(1).lower() == "yes"


_YES_NO_QUESTION = re.compile(
    r"^\W*(is|are|was|were|do|does|did|can|could|has|have|had|will|would|should|may|might|must|isn't|aren't|"
    r"wasn't|weren't|doesn't|didn't)\b",
    re.I,
)


LEADING_YES_NO = re.compile(r"^\W*(yes|no)\b[\s,.;:!-]*", re.I)


def leading_yes_no(answer: str) -> str | None:
    """'yes' or 'no' when the answer opens with it."""
    m = LEADING_YES_NO.match(answer)
    return m.group(1).lower() if m else None


def is_yes_no(question: str, lang: str = language.ENGLISH) -> bool:
    """An English question that opens like one answered by yes or no ("Was…", "Does…"). Other languages are
    not read as yes/no questions (German "Was" asks what): their yes/no answers are checked as any claim."""
    return lang == language.ENGLISH and bool(_YES_NO_QUESTION.match(question))


def yes_or_no(llm: LLM, template: str, evidence: str, question: str) -> str | None:
    """The model's yes or no to a yes/no question, asked of the quoted sentence alone; None if it says neither."""
    try:
        verdict = llm.chat(
            [{"role": "user", "content": template.format(evidence=fence(evidence), question=question)}], 3
        )
    except LLMError as e:
        log.warning("yes/no check could not ask the LLM: %s", e)
        return None
    word = re.match(r"\W*(yes|no)\b", verdict, re.I)
    return None if word is None else word.group(1).lower()


def check_reply(
    question: str,
    answer: str,
    quote: str,
    passages: list[Passage],
    llm: LLM | None,
    template: str,
    names_check: bool = True,
    min_lexical: float = 0.5,
    yes_no_template: str = "",
    realign: bool = False,
    lang: str = language.ENGLISH,
) -> dict[str, Any]:
    """Where the model's quote is and what each check says of its answer; `withheld` names the first that
    failed. Every enabled check runs even after one has failed, so the record shows them all (and a run of
    the answer harness can tell what each contributes). `llm` None: no entailment check. `lang`: the question's
    language, in which names and words are read (this mode compares words in that one language only).

    A yes/no question is also asked of the quoted sentence alone (`polarity`): when the answer opens with the
    other word, the quote does not settle the question and the answer is withheld; when it opens with
    neither, that yes or no becomes the answer's. (The answering model, reading five passages, leans to yes;
    its bare "Yes" is not checked for entailment, which would mean little, but any claim after it is.)"""
    found = quotes.locate(quote, [p.text for p in passages])
    if found is None:
        return {"withheld": "quote_not_found", "quote": quote}
    p = passages[found.passage]
    start, end = quotes.sentence_around(p.text, found.start, found.end)
    out: dict[str, Any] = {"passage": found.passage + 1, "start": start, "end": end, "quote_match": found.how}
    if realign and lexical(answer, p.text[start:end], given=question, lang=lang) < min_lexical:
        # The model copied a neighbour of the sentence that holds its answer: re-anchor to the retrieved
        # sentence holding most of the answer's new words, if it holds enough of them.
        best = max(
            ((i, s, e) for i, q in enumerate(passages) for s, e in quotes.sentences(q.text)),
            key=lambda x: lexical(answer, passages[x[0]].text[x[1] : x[2]], given=question, lang=lang),
            default=None,
        )
        best_text = passages[best[0]].text[best[1] : best[2]] if best else ""
        if best and lexical(answer, best_text, given=question, lang=lang) >= min_lexical:
            p, (start, end) = passages[best[0]], best[1:]
            out.update(passage=best[0] + 1, start=start, end=end, anchor="realigned")
    failed = []
    if names_check:
        missing = about_something_else(question, p.text, f"{p.title} {p.name}", lang)
        if missing:
            out["missing"] = sorted(missing)
            failed.append("question_names_not_in_passage")
    out["lexical"] = round(lexical(answer, p.text, given=question, lang=lang), 2)
    if out["lexical"] < min_lexical:
        failed.append("answer_not_in_passage")
    evidence = p.text[start:end]
    said = leading_yes_no(answer)
    claim = LEADING_YES_NO.sub("", MARKER.sub("", answer)).strip()
    yes_no = is_yes_no(question, lang)
    if llm is not None and (not yes_no or stems(claim) - YES_NO):
        out["entailed"] = entails(llm, template, evidence, question, answer)
        if out["entailed"] is False:
            failed.append("quote_does_not_state_answer")
    if llm is not None and yes_no and yes_no_template:
        out["polarity"] = yes_or_no(llm, yes_no_template, evidence, question)
        if said and out["polarity"] and said != out["polarity"]:
            # The answer says yes, the sentence alone says no (or the reverse): the quote does not settle it.
            failed.append("quote_does_not_settle_yes_no")
    if failed:
        out["withheld"] = failed[0]
    return out
