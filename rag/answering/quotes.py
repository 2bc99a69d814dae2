"""Find a quote the model says it copied, in the passages it was given.

Exact first; then normalised (case, spacing, quote marks and dashes, punctuation at the ends); then the
passage sentence that shares most of the quote's words, accepted only when it holds at least FUZZY of them
in order-free terms (a small model drops or swaps a word when copying). A quote that clears none of these
is in no passage, and the caller must not show it, or what it backs, as fact.
Spans are offsets into the passage text, which is exactly `source[passage.start:passage.end]`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

FUZZY = 0.85
_MIN_CHARS = 12  # shorter "quotes" ("yes", "1856") locate anywhere and prove nothing
# Sentence ends: Latin . ! ?, the ideographic 。！？ (no space follows them), the Devanagari danda । ॥, the
# Arabic question mark ؟ and the Urdu full stop ۔.
_ENDS = ".!?。！？।॥؟۔"
_SENTENCE = re.compile(rf"[^{_ENDS}\n]+(?:[{_ENDS}]+[\"')\]」』”’]*|$)")
# Thai has no sentence mark: a space between two Thai letters ends a sentence (or a clause: as close as
# spacing gets).
_THAI_BREAK = re.compile(r"(?<=[\u0e00-\u0e7f]) +(?=[\u0e00-\u0e7f])")
_WORD = re.compile(r"[^\W_]+")
_FOLD = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\u00a0": " "})


@dataclass(frozen=True)
class Located:
    passage: int  # 0-based index into the passages
    start: int  # offsets into that passage's text
    end: int
    how: str  # "exact" | "normalised" | "fuzzy"
    score: float  # share of the quote's words found (1.0 for exact/normalised)


def _norm_with_map(text: str) -> tuple[str, list[int]]:
    """Lower-cased text with runs of non-word characters collapsed to one space, and each output char's
    offset in the input, so a match in the normalised text maps back to an exact span."""
    out: list[str] = []
    where: list[int] = []
    text = text.translate(_FOLD)
    pending_space = False
    for i, ch in enumerate(text):
        if ch.isalnum():
            if pending_space and out:
                out.append(" ")
                where.append(i)
            out.append(ch.lower())
            where.append(i)
            pending_space = False
        else:
            pending_space = True
    return "".join(out), where


# Languages that write ordinals with a full stop ("im 17. Jahrhundert", "am 3. Oktober"): a number of one or
# two digits and its stop do not end a sentence there.
ORDINAL_STOP = frozenset(
    {"de", "da", "no", "nb", "fi", "cs", "sk", "pl", "hu", "tr", "sl", "hr", "sr", "et", "lv", "is"}
)
_ORDINAL = re.compile(r"(?:^|\s)\d{1,2}\.$")


def sentences(text: str, lang: str = "en") -> list[tuple[int, int]]:
    """(start, end) of each sentence, trimmed of surrounding spaces."""
    spans = _sentences(text)
    if lang not in ORDINAL_STOP:
        return spans
    out: list[tuple[int, int]] = []
    for s, e in spans:
        if out and _ORDINAL.search(text[out[-1][0] : out[-1][1]]) and "\n" not in text[out[-1][1] : s]:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def _sentences(text: str) -> list[tuple[int, int]]:
    spans = []
    for m in _SENTENCE.finditer(text):
        pieces = [(m.start(), m.end())]
        if _THAI_BREAK.search(m.group(0)):
            cuts = [m.start() + b.start() for b in _THAI_BREAK.finditer(m.group(0))]
            pieces = list(zip([m.start(), *cuts], [*cuts, m.end()], strict=True))
        for s, e in pieces:
            while s < e and text[s].isspace():
                s += 1
            while e > s and text[e - 1].isspace():
                e -= 1
            if e > s:
                spans.append((s, e))
    return spans


def _words(text: str) -> Counter[str]:
    return Counter(w.lower() for w in _WORD.findall(text.translate(_FOLD)))


def locate(quote: str, passages: list[str]) -> Located | None:
    quote = quote.strip().strip("\"'“”‘’").strip()
    if len(quote) < _MIN_CHARS:
        return None
    for i, text in enumerate(passages):
        at = text.find(quote)
        if at >= 0:
            return Located(i, at, at + len(quote), "exact", 1.0)
    needle, _ = _norm_with_map(quote)
    for i, text in enumerate(passages):
        hay, where = _norm_with_map(text)
        at = hay.find(needle)
        if at >= 0 and needle:
            return Located(i, where[at], where[at + len(needle) - 1] + 1, "normalised", 1.0)
    return _fuzzy(quote, passages)


def _fuzzy(quote: str, passages: list[str]) -> Located | None:
    """The run of passage words most like the quote: windows of about the quote's length slid over each
    passage, scored by the share of the quote's words they hold. A paraphrase that keeps the words close
    together ("Aliyev visited Belgrade" for "the visit of Aliyev to Belgrade") is found; the same words
    scattered over a paragraph are not."""
    want = _words(quote)
    total = sum(want.values())
    if not total:
        return None
    best: Located | None = None
    for i, text in enumerate(passages):
        words = [(m.start(), m.end(), m.group(0).lower()) for m in _WORD.finditer(text.translate(_FOLD))]
        for size in range(max(1, total - 2), total + 3):
            for at in range(0, max(1, len(words) - size + 1)):
                window = words[at : at + size]
                got = want & Counter(w for _, _, w in window)
                score = sum(got.values()) / total
                if score >= FUZZY and (best is None or score > best.score):
                    best = Located(i, window[0][0], window[-1][1], "fuzzy", round(score, 3))
    return best


def sentence_around(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen a span to the whole sentence(s) it touches, for highlighting a supporting sentence."""
    spans = sentences(text)
    covering = [(s, e) for s, e in spans if s < end and e > start]
    if not covering:
        return start, end
    return min(s for s, _ in covering), max(e for _, e in covering)
