"""Citations checked in code, never trusted from the model.

- A marker `[n]` whose n names no retrieved passage is removed (invented).
- A marker whose passage does not support its sentence is removed. "Supports" is lexical and explainable:
  at least SUPPORT of the sentence's content words (stop words dropped, words compared by their Snowball
  stems so "imports"/"importing" match) occur in the passage. Sentences of fewer than 3 content words
  are too short to judge and keep their marker.
- A sentence the model left uncited gets the passage that supports it best, if one clears the same bar;
  this catches the small local model's habit of forgetting a marker.
- A sentence that, after this, has no marker and is long enough to judge is removed from the answer: what
  is shown is either supported by a cited passage or too short to be a claim ("Yes.").
The cited passages returned are exactly those whose markers remain in the final text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.answering.language import Languages
from rag.answering.refusals import Refusals
from rag.answering.verify import MARKER, stems

_SENTENCE_END = re.compile(
    r"(?<=[.!?।؟])(?:\s*\[\d+(?:\s*,\s*\d+)*\])*\s+(?=[A-Z0-9\"“(]|[^\W\d_a-z\u00df-\u024f\u0430-\u045f\u03ac-\u03ce])"
    # After 。！？ (Chinese, Japanese) a sentence ends whether or not a space follows.
    r"|(?<=[。！？])(?:\s*\[\d+(?:\s*,\s*\d+)*\])*\s*(?=\S)"
)
SUPPORT = 0.5
_MIN_WORDS = 3


def _support(sentence: str, passage: str, lang: str = "en", passage_lang: str = "en") -> float:
    """Share of the sentence's content stems (in `lang`) in the passage (read in `lang` and its own language)."""
    words = stems(sentence, lang)
    if not words:
        return 1.0
    have = stems(passage, lang) | (stems(passage, passage_lang) if passage_lang != lang else set())
    return len(words & have) / len(words)


@dataclass
class Checked:
    text: str
    cited: list[int]  # passage numbers (1-based) in order of first citation
    invented: list[int] = field(default_factory=list)
    unsupported: list[int] = field(default_factory=list)
    added: list[int] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # sentences removed: no passage supports them


def _sentences(text: str) -> list[str]:
    """Split keeping every character, so joining the parts gives the text back."""
    out, pos = [], 0
    for m in _SENTENCE_END.finditer(text):
        out.append(text[pos : m.end()])
        pos = m.end()
    out.append(text[pos:])
    return [s for s in out if s]


def check(answer: str, passages: list[str], auto_cite: bool = True, langs: Languages | None = None) -> Checked:
    """`langs`: the question's and each passage's language (None: English throughout)."""
    langs = langs or Languages.english(len(passages))
    result = Checked(text="", cited=[])
    parts = []
    for sentence in _sentences(answer):
        lang = langs.claim(sentence)
        words = stems(sentence, lang)

        def support(sentence: str, i: int, lang: str = lang) -> float:
            return _support(sentence, passages[i], lang, langs.passage(i))

        judge = len(words) >= _MIN_WORDS
        kept_any = False

        def keep(m: re.Match[str], sentence: str = sentence, judge: bool = judge) -> str:
            nonlocal kept_any
            kept = []
            for n in (int(x) for x in re.findall(r"\d+", m.group(1))):
                if not 1 <= n <= len(passages):
                    result.invented.append(n)
                elif judge and support(sentence, n - 1) < SUPPORT:
                    result.unsupported.append(n)
                elif n not in kept:
                    kept.append(n)
            kept_any = kept_any or bool(kept)
            lead = " " if m.group(0).startswith(" ") else ""
            return lead + "".join(f"[{n}]" for n in kept) if kept else ""

        sentence = MARKER.sub(keep, sentence)
        if auto_cite and not kept_any and judge and passages:
            best = max(range(len(passages)), key=lambda i: support(sentence, i))
            if support(sentence, best) >= SUPPORT:
                stripped = sentence.rstrip()
                cut = len(stripped) - 1 if stripped[-1:] in ".!?。！？।" else len(stripped)
                sentence = stripped[:cut] + f" [{best + 1}]" + sentence[cut:]
                result.added.append(best + 1)
                kept_any = True
        if judge and not kept_any:
            # A claim no passage supports is not shown at all: removing only its marker would leave it
            # looking like part of a cited answer.
            result.dropped.append(sentence.strip())
            continue
        parts.append(sentence)
    result.text = "".join(parts).strip()
    for m in MARKER.finditer(result.text):
        for n in (int(x) for x in re.findall(r"\d+", m.group(1))):
            if n not in result.cited:
                result.cited.append(n)
    return result


_REFUSAL = re.compile(
    r"(do(es)? not|don't|doesn't) (answer|contain|say|mention|provide|include|specify|state)"
    r"|no (information|mention|details?)|not (mentioned|provided|stated|specified|available|found)"
    r"|cannot (answer|be answered|find|determine)|can't (answer|find|determine)|unable to (answer|find|determine)",
    re.I,
)


def is_refusal(answer: str, refusal: str, refusals: Refusals | None = None) -> bool:
    """The model said the passages do not hold the answer (in the set phrase, or close to it), in English or
    in a language of `refusals` (prompts/refusals.json)."""
    text = MARKER.sub("", answer).strip()
    if not text:
        return True
    if refusal.lower().rstrip(".") in text.lower():
        return True
    if refusals is not None and refusals.recognises(text):
        return True
    return len(text.split()) <= 30 and bool(_REFUSAL.search(text))
