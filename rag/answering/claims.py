"""Each claim of a reply checked against the sentences that state it, in code, cheapest signal first.

1. Evidence: the sentences the model named (ids the schema held to the ones shown). When they do not hold the
   claim's new words but another retrieved sentence does (a small model often names a neighbour), the claim is
   re-anchored to that sentence: the checks run on what supports the claim, not on what the model pointed at.
2. A non-answer is not an answer: a claim with no word the question lacks ("The committee proposed a plan.")
   is replaced by its evidence sentence when that sentence says more and is about the question, else withheld.
3. Names: the question's names must be in the evidence's passage or its title (another person's article fails).
4. Numbers: every figure of the claim is in its evidence or the question (no arithmetic, no guessed years).
5. Lexical: at least `min_lexical` of the claim's new words are in its evidence.
6. Entailment, only when needed: a claim that is a span of its evidence and carries more than half of the
   question's terms is stated by it; otherwise the model is
   asked one yes/no question and its P(yes) from token log-probabilities must reach `min_support`. No verdict
   is not support (fails closed).

Words are compared in the claim's language (rag/answering/language.py). A claim in another language than its
evidence (a German answer from an English passage) cannot be checked word by word: the lexical and names
checks are skipped and recorded as such, and the support check is always asked (without it, withheld).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rag.answering import language, verify
from rag.answering.language import Languages
from rag.answering.reply import Claim
from rag.answering.sentences import Sentence
from rag.answering.verdict import ClaimCheck, Withheld
from rag.retrieval.retriever import Passage

# (evidence, question, claim) -> P(the evidence states the claim), None when no judgement could be had.
Judge = Callable[[str, str, str], float | None]


@dataclass(frozen=True)
class ClaimOptions:
    realign: bool = True  # re-anchor a claim to the retrieved sentence that holds its words
    posthoc: bool = False  # ignore the ids the model named: evidence is the sentence that holds the claim's words
    names: bool = True
    min_lexical: float = 0.5
    numbers: bool = True
    entailment: bool = True
    min_support: float = 0.5  # P(yes) a claim needs when the model is asked (chosen on dev; README)
    skip_span: bool = True  # no entailment call when the claim is a span of its evidence


def new_words(claim: str, question: str, lang: str = language.ENGLISH, question_lang: str | None = None) -> set[str]:
    """The claim's content stems (in `lang`) that the question (in `question_lang`, else `lang`) does not hold."""
    asked = verify.stems(question, question_lang or lang) if (question_lang or lang) == lang else set()
    return verify.stems(claim, lang) - asked - verify.YES_NO


def _cover(words: set[str], sentences: list[Sentence], langs: Languages | None = None, lang: str = "en") -> float:
    """Share of `words` (stems in `lang`) in the sentences, each read in its passage's language and in `lang`
    (a passage misread as another language still matches; words of two languages rarely share a stem)."""
    if not words:
        return 1.0
    have: set[str] = set()
    for s in sentences:
        have |= verify.stems(s.text, lang)
        if langs is not None and langs.passage(s.passage) != lang:
            have |= verify.stems(s.text, langs.passage(s.passage))
    return len(words & have) / len(words)


def is_span(claim: str, evidence: str, lang: str = language.ENGLISH) -> bool:
    """The claim's words, in order and contiguous, are in the evidence (case and punctuation aside)."""
    return language.is_span(verify.LEADING_YES_NO.sub("", claim), evidence, lang)


def _restates_enough(claim: str, question: str, lang: str = language.ENGLISH, question_lang: str | None = None) -> bool:
    """A span of the evidence is only stated by it when it also carries the question's terms: "Serbia is
    interested in importing Azerbaijani oil" is, but a bare "President Ilham Aliyev" (asked who Serbia's
    president is) is a span of a sentence that never says so, and must be judged."""
    asked = verify.stems(question, question_lang or lang) - verify.YES_NO
    if (question_lang or lang) != lang:
        return not asked
    return not asked or 2 * len(asked & verify.stems(claim, lang)) > len(asked)


def numbers(text: str) -> set[str]:
    return language.numbers(text)


def check_claim(
    question: str,
    claim: Claim,
    sentences: list[Sentence],
    passages: list[Passage],
    judge: Judge | None,
    options: ClaimOptions,
    langs: Languages | None = None,
) -> ClaimCheck:
    """`langs`: the question's and each passage's language (None: all English, as before languages)."""
    langs = langs or Languages.english(len(passages))
    by_id = {s.id: s for s in sentences}
    named = [by_id[i] for i in claim.evidence if i in by_id]
    out = ClaimCheck(draft=claim.text, named=[s.id for s in named])
    text = verify.MARKER.sub("", claim.text).strip()
    qlang = langs.question
    lang = langs.claim(text)

    def cover(words: set[str], ss: list[Sentence]) -> float:
        return _cover(words, ss, langs, lang) if ss else 0.0

    new = new_words(text, question, lang, qlang)
    if options.posthoc and sentences:
        # Post-hoc attribution: the sentence holding most of the claim's new words (or, for a claim with none,
        # of its words), whatever the model named.
        want = new or verify.stems(text, lang)
        named = [max(sentences, key=lambda s: (cover(want, [s]), -s.passage))]
        out.anchor = "posthoc"
    yes_no = verify.is_yes_no(question, qlang)
    evidence = named
    if not new and not yes_no:
        # Restates the question: its evidence sentence stands in if it says more and is about the question.
        first = named[0] if named else None
        flang = langs.passage(first.passage) if first else lang
        if (
            first is None
            or not new_words(first.text, question, flang, qlang)
            or not (verify.stems(first.text, flang) & verify.stems(question, qlang))
        ):
            out.fail(Withheld.RESTATES_QUESTION)
            return out
        text, out.made, lang = first.text.strip(), "quote", flang
        new = new_words(text, question, lang, qlang)
        evidence = [first]
    elif options.realign and new and cover(new, named) < options.min_lexical:
        best = max(sentences, key=lambda s: (cover(new, [s]), s in named, -s.passage), default=None)
        if best is not None and cover(new, [best]) >= options.min_lexical:
            evidence, out.anchor = [best], "realigned"
    if not evidence:
        out.anchor = "none"
        out.fail(Withheld.NO_EVIDENCE)
        return out
    want = new or (verify.stems(text, lang) - verify.YES_NO)
    if want and len(evidence) > 1:
        # The model pads its evidence with neighbours: cite only the sentences that hold some of the claim.
        evidence = [s for s in evidence if cover(want, [s]) > 0] or evidence
    out.evidence = [s.id for s in evidence]
    p = passages[evidence[0].passage]
    out.passage = evidence[0].passage + 1
    out.spans = [(passages[s.passage].start + s.start, passages[s.passage].start + s.end) for s in evidence]
    said = " ".join(s.text for s in evidence)
    elang = langs.passage(evidence[0].passage)
    out.languages = {"question": qlang, "claim": lang, "evidence": elang}
    failed: list[Withheld] = []
    if options.names:
        missing = sorted(verify.about_something_else(question, p.text, f"{p.title} {p.name}", qlang))
        if missing and elang != qlang:
            # Names are translated or transliterated (Warschau, Warsaw, 华沙): a spelling missing from a passage
            # in another language says nothing.
            out.skipped.append(f"names: question in {qlang}, passage in {elang}")
        elif missing:
            out.missing = missing
            failed.append(Withheld.QUESTION_NAMES_NOT_IN_PASSAGE)
    if options.numbers:
        out.numbers = sorted(numbers(text) - numbers(said) - numbers(question))
        if out.numbers:
            failed.append(Withheld.NUMBER_NOT_IN_EVIDENCE)
    lexical = round(cover(new, evidence), 2)
    # Words found are found; words missing only say something when claim and evidence share a language.
    comparable = lexical >= options.min_lexical or any(langs.passage(s.passage) == lang for s in evidence)
    if comparable:
        out.lexical = lexical
        if out.lexical < options.min_lexical:
            failed.append(Withheld.ANSWER_NOT_IN_PASSAGE)
    else:
        out.skipped.append(f"lexical: claim in {lang}, evidence in {elang}")
    claim_words = verify.stems(verify.LEADING_YES_NO.sub("", text), lang) - verify.YES_NO
    spanned = comparable and is_span(text, said, lang) and _restates_enough(text, question, lang, qlang)
    if out.made == "quote" or (options.skip_span and spanned):
        out.entailment = "span"
    elif options.entailment and judge is not None and (not yes_no or claim_words or not comparable):
        out.entailment = "asked"
        out.support = judge(said, question, text)
        if out.support is None:
            failed.append(Withheld.NO_VERDICT)
        elif out.support < options.min_support:
            failed.append(Withheld.NOT_ENTAILED)
    elif not comparable:
        failed.append(Withheld.NO_VERDICT)  # no word check could run and no support check was asked
    for reason in failed:
        out.fail(reason)
    if not failed:
        out.text = text
    return out
