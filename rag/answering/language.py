"""The languages of one answer: the question's, each passage's and each claim's, and the word-level checks
(content words, names, spans) done in the right one.

English keeps the checks it was measured with (Snowball English, the index's English stop words, capitalised
words as names), so its figures stand. Another language gets its own stop words and Snowball stemmer from
rag/text (identity where Snowball has none; Chinese and Thai segmented into words). Two rules are decided
here, and recorded on each claim when they apply:

- Words are compared within one language only. A German claim and an English sentence share no stems, so
  when the claim is in neither the language of its evidence nor can be re-anchored to a sentence in its own,
  the lexical and names checks are skipped (`skipped` on the claim's record) and the claim stands or falls by
  the model's P(yes) support check, which reads both languages; it is asked even where it would otherwise be
  skipped, and with no support check the claim is withheld (nothing checked it).
- A name is what its script can show to be one. Latin, Cyrillic and Greek questions: capitalised words past
  the first (German capitalises every noun, so there only a run of two capitalised words, or a word with a
  capital inside or all in capitals, counts). Scripts without case (Chinese, Japanese, Thai, Arabic,
  Hindi...): only the Latin-script words the question holds ("NFL"), because nothing marks a name in the
  script itself; the check never withholds such a claim for lacking capitals.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rag import text as analyzer

ENGLISH = "en"
# Written without spaces between words: segmented for words, compared by characters for spans.
NO_SPACES = frozenset({"zh", "ja", "th", "lo", "km", "my"})
# The language's own name in English, for the prompt ("Write ... in German."): small models follow a named
# language better than "the question's language".
NAMES = {
    "en": "English",
    "de": "German",
    "es": "Spanish",
    "fr": "French",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "ro": "Romanian",
    "vi": "Vietnamese",
    "tr": "Turkish",
    "ru": "Russian",
    "uk": "Ukrainian",
    "pl": "Polish",
    "cs": "Czech",
    "sv": "Swedish",
    "da": "Danish",
    "no": "Norwegian",
    "fi": "Finnish",
    "el": "Greek",
    "ar": "Arabic",
    "fa": "Persian",
    "he": "Hebrew",
    "hi": "Hindi",
    "bn": "Bengali",
    "th": "Thai",
    "zh": "Chinese",
    "ja": "Japanese",
    "ko": "Korean",
    "id": "Indonesian",
}
_MARKER = re.compile(r"\s?\[(\d+(?:\s*,\s*\d+)*)\]")
_TOKEN = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_NO_SPACE_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\u0e00-\u0eff\u1780-\u17ff\u1000-\u109f]")


def name_of(lang: str) -> str:
    return NAMES.get(lang, lang)


@lru_cache(maxsize=4096)
def detect(text: str) -> str:
    """The language of a text (ISO 639-1), English when there is nothing to tell it by."""
    clean = _MARKER.sub("", text).strip()
    if not any(c.isalpha() for c in clean):
        return ENGLISH
    return analyzer.detect_language(clean) or ENGLISH


def no_spaces(text: str) -> bool:
    """Most of the text's letters are of a script written without spaces (Chinese, Japanese, Thai...)."""
    letters = sum(c.isalpha() for c in text)
    return bool(letters) and 2 * len(_NO_SPACE_CHAR.findall(text)) > letters


@lru_cache(maxsize=8192)
def _stems(text: str, lang: str) -> frozenset[str]:
    if lang == ENGLISH:
        from rag.answering.verify import english_stems  # the measured English rule, unchanged

        return frozenset(english_stems(text))
    keep_single = lang in NO_SPACES  # one Chinese character is often a whole word
    return frozenset(t for t in analyzer.terms(text, lang) if t and (keep_single or len(t) > 1))


def stems(text: str, lang: str = ENGLISH) -> set[str]:
    """The text's content words (stop words of `lang` dropped), stemmed in `lang`; markers [n] ignored."""
    return set(_stems(_MARKER.sub("", text), lang))


def tokens(text: str, lang: str = ENGLISH) -> list[str]:
    """The text's words, case-folded, in order (segmented where the script has no spaces)."""
    clean = _MARKER.sub("", text)
    if lang in NO_SPACES or no_spaces(clean):
        return [w for w in analyzer.words(clean, lang) if any(c.isalnum() for c in w)]
    return [t.lower() for t in re.findall(r"[^\W_]+", clean)]


def _chars(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKC", _MARKER.sub("", text)).casefold() if c.isalnum())


def is_span(claim: str, evidence: str, lang: str = ENGLISH) -> bool:
    """The claim's words, in order and contiguous, are in the evidence (case and punctuation aside). Where
    words are not spaced, by characters: a segmenter may cut the same text differently in two contexts."""
    if lang in NO_SPACES or no_spaces(claim):
        chars = _chars(claim)
        return bool(chars) and chars in _chars(evidence)
    want, have = tokens(claim, lang), tokens(evidence, lang)
    if not want:
        return False
    n = len(want)
    return any(have[i : i + n] == want for i in range(len(have) - n + 1))


@dataclass(frozen=True)
class Languages:
    """The question's language and each passage's (by index), for one answer."""

    question: str
    passages: tuple[str, ...]

    @classmethod
    def of(cls, question: str, passage_texts: Sequence[str]) -> Languages:
        return cls(detect(question), tuple(detect(t) for t in passage_texts))

    @classmethod
    def english(cls, n: int = 0) -> Languages:
        return cls(ENGLISH, (ENGLISH,) * n)

    def passage(self, i: int) -> str:
        return self.passages[i] if 0 <= i < len(self.passages) else self.question

    def claim(self, text: str) -> str:
        """The language a claim is read in: as detected when that is the question's or a passage's (a short
        claim is easily misread as some third language), else the question's, which it was asked to be in."""
        found = detect(text)
        return found if found == self.question or found in self.passages else self.question


# Names -------------------------------------------------------------------------------------------------
# Capitalised words that open questions or are too common to name anything (English; other languages use
# their stop words).
NOT_NAMES = frozenset(
    [
        "what",
        "who",
        "whom",
        "whose",
        "which",
        "when",
        "where",
        "why",
        "how",
        "is",
        "are",
        "was",
        "were",
        "do",
        "does",
        "did",
        "can",
        "could",
        "has",
        "have",
        "had",
        "in",
        "on",
        "of",
        "the",
        "a",
        "an",
        "and",
        "i",
        "it",
        "its",
        "if",
        "to",
        "for",
        "as",
        "at",
        "by",
        "after",
        "before",
        "according",
        "name",
        "list",
    ]
)


def _cased(word: str) -> bool:
    return any(c.isupper() or c.islower() for c in word)


def names(question: str, lang: str = ENGLISH) -> set[str]:
    """The names a question asks about, as its script can show them (module docstring)."""
    words = [m.group(0) for m in _TOKEN.finditer(_MARKER.sub("", question))]
    letters = [c for w in words for c in w if c.isalpha()]
    if letters and 2 * sum(_cased(c) for c in letters) < len(letters):
        # A script without case: only Latin-script words can be told apart as names.
        return {w.lower() for w in words if len(w) >= 2 and _LATIN.search(w)}
    stop = NOT_NAMES if lang == ENGLISH else NOT_NAMES | analyzer.stopwords(lang)
    found: set[str] = set()
    capital = [i > 0 and w[0].isupper() and w.lower() not in stop and len(w) >= 2 for i, w in enumerate(words)]
    for i, w in enumerate(words):
        if not capital[i]:
            continue
        # German capitalises every noun: there a capital alone does not make a name.
        in_run = capital[i - 1] or (i + 1 < len(words) and capital[i + 1])
        if lang != "de" or in_run or _shaped_name(w):
            found.add(w.lower())
    return found


def _shaped_name(word: str) -> bool:
    """A word whose shape, not its first capital, marks a name: NFL, McDonald, iPhone."""
    return sum(c.isupper() for c in word) >= 2 or any(c.isdigit() for c in word)


def missing_names(question: str, passage: str, title: str, lang: str = ENGLISH) -> set[str]:
    """The question's names that neither the passage nor its document's title mention (stem-tolerant; by
    characters in a passage written without spaces)."""
    where = f"{passage} {title}"
    have = stems(where, lang) | {w.lower() for w in re.findall(r"[^\W_]+", where)}
    folded = _chars(where) if no_spaces(where) else ""

    def present(n: str) -> bool:
        if n in have:
            return True
        if lang == ENGLISH:
            from rag.answering.verify import english_stem

            found = english_stem(n) in have
        else:
            found = set(analyzer.terms(n, lang)) <= have  # stemmed as the passage's words were
        return found or (bool(folded) and _chars(n) in folded)

    return {n for n in names(question, lang) if not present(n)}


def about_something_else(question: str, passage: str, title: str, lang: str = ENGLISH) -> set[str]:
    """The missing names when more than half of the question's names are missing, else an empty set."""
    missing = missing_names(question, passage, title, lang)
    return missing if 2 * len(missing) > len(names(question, lang)) else set()


# Numbers -----------------------------------------------------------------------------------------------
_NUMBER = re.compile(r"\d+(?:[.,\u066b\u066c]\d+)*")


def numbers(text: str) -> set[str]:
    """The figures of a text in one spelling: any script's digits as ASCII (٣ and ३ are 3), a group separator
    dropped (1,000 = 1.000 = 1000), a decimal mark as a point (1,5 = 1.5)."""
    out = set()
    for m in _NUMBER.finditer(_MARKER.sub("", text)):
        raw = "".join(str(unicodedata.digit(c)) if c.isdigit() else c for c in m.group(0))
        parts = re.split(r"[.,\u066b\u066c]", raw)
        if len(parts) > 1 and len(parts[-1]) != 3:  # a decimal mark after any thousands groups
            out.add("".join(parts[:-1]) + "." + parts[-1])
        else:
            out.add("".join(parts))
    return out
