"""Words as the keyword index sees them: SQLite FTS5's `porter unicode61 remove_diacritics 2`, in Python.

One tokenizer for every place that must agree with the embedded index's terms: the PostgreSQL index
(rag/index/postgres.py), which must rank exactly as FTS5 does, and pseudo-relevance feedback
(rag/retrieval/expansion.py), which looks up the index's document frequencies by stem. unicode61 splits on
every character that is not a letter, a number or a private-use character (so `_` and `.` separate), lower-cases, and
drops diacritics
(combining marks are part of a token and vanish); FTS5's porter stems tokens of 3 to 64 bytes, the
original Porter algorithm that PyStemmer's "porter" implements.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

import Stemmer

_ASCII_TOKEN = re.compile(r"[a-z0-9]+")
# Letters and numbers (Python's \w without `_`), and the private-use area FTS5 also counts as token characters.
_TOKEN = re.compile(r"(?:[^\W_]|[\ue000-\uf8ff])+")
_MIN_STEM_BYTES, _MAX_STEM_BYTES = 3, 64  # fts5_porter.c passes shorter and longer tokens through unchanged


@cache
def _porter() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("porter")


def stem(word: str) -> str:
    """One word's Porter stem, folded as FTS5's porter unicode61 tokenizer stores it."""
    return _stem_words([_fold(word)])[0]


def _stem_words(words: list[str]) -> list[str]:
    """Stems of folded tokens. fts5_porter.c works on UTF-8 bytes, each byte of a non-ASCII letter a consonant;
    stemming the bytes as Latin-1 characters does the same (straße -> straß, as FTS5 has it)."""
    as_bytes = [w if w.isascii() else w.encode().decode("latin-1") for w in words]
    out = []
    for word, s in zip(as_bytes, _porter().stemWords(as_bytes), strict=True):
        s = _fts5_porter(str(s), word) if _MIN_STEM_BYTES <= len(word) <= _MAX_STEM_BYTES else word
        out.append(s if s.isascii() else s.encode("latin-1").decode("utf-8", errors="replace"))
    return out


def _measure_positive(word: str) -> bool:
    """Porter's m > 0: the word holds a vowel followed by a consonant (y is a vowel after a consonant)."""
    vowel_seen, prev_vowel = False, False
    for i, c in enumerate(word):
        is_vowel = c in "aeiou" or (c == "y" and i > 0 and not prev_vowel)
        if vowel_seen and not is_vowel:
            return True
        vowel_seen, prev_vowel = vowel_seen or is_vowel, is_vowel
    return False


# fts5_porter.c matches a suffix only in a longer word, so a word that is all suffix stems differently.
_WHOLE_SUFFIX = {"ies": "ie", "sses": "sse", "eed": "e", "eeds": "e"}


def _fts5_porter(s: str, word: str) -> str:
    """Snowball's "porter" is the published algorithm; FTS5 ports Porter's own C release, whose step 2 also
    turns -bli into -ble and -logi into -log. A stem that still ends so went through step 2 untouched."""
    if word in _WHOLE_SUFFIX:
        return _WHOLE_SUFFIX[word]
    if word == s + "e":  # the e went in step 5, after step 2 had looked at the word (French "technologie")
        return s
    if s.endswith("bli") and _measure_positive(s[:-3]):
        return str(_porter().stemWord(s[:-3] + "ble"))
    if s.endswith("logi") and _measure_positive(s[:-4]):
        return s[:-1]
    return s


def _is_diacritic(c: int) -> bool:
    """The combining marks unicode61 removes (sqlite3Fts5UnicodeIsdiacritic); any other mark separates tokens."""
    if c < 768 or c > 817:
        return False
    return bool(0x08029FDF & (1 << (c - 768))) if c < 800 else bool(0x000361F8 & (1 << (c - 800)))


def _fold_table() -> dict[int, str]:
    """unicode61's remove_diacritics 2 for the Latin letters: é -> e, ő -> o; ø, ł, й and ή keep their form."""
    table: dict[int, str] = {}
    for c in range(0x80, 0x3000):
        # Case folding, not just lower case: the micro sign is Greek mu, a final sigma and a long s are σ and s.
        folded = chr(c).casefold()
        if len(folded) == 1 and folded != chr(c).lower():
            table[c] = folded
    for c in [*range(0x80, 0x2B0), *range(0x1E00, 0x1F00)]:
        base = unicodedata.normalize("NFD", chr(c))
        if len(base) > 1 and base[0].isascii() and all(_is_diacritic(ord(m)) for m in base[1:]):
            table[c] = base[0]
    table.update({c: "" for c in range(768, 818) if _is_diacritic(c)})  # such a mark joins a token and vanishes
    return table


_FOLD = _fold_table()


def _fold(text: str) -> str:
    """Lower case without Latin diacritics, one character at a time (a final capital sigma stays σ)."""
    if text.isascii():
        return text.lower()
    return text.replace("\u03a3", "\u03c3").lower().translate(_FOLD)


def tokens(text: str) -> list[str]:
    """The stemmed tokens of a text, in order, stopwords included (they count towards a row's length)."""
    folded = _fold(text)
    raw = _ASCII_TOKEN.findall(folded) if folded.isascii() else _TOKEN.findall(folded)
    distinct = list(dict.fromkeys(raw))
    stems = dict(zip(distinct, _stem_words(distinct), strict=True))
    return [stems[t] for t in raw]


# Words too common to say anything about relevance; dropping them keeps OR-queries small and fast.
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
    ]
)
_TERM = re.compile(r"\w+", re.UNICODE)


def query_terms(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for t in _TERM.findall(text.lower()):
        if t not in STOPWORDS and len(t) > 1:
            seen.setdefault(t, None)
    return list(seen)
