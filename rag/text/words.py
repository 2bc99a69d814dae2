"""Surface words of a text: case-folded, split on everything that is not a letter, mark or number, and
segmented where a script writes no spaces between words (Chinese by jieba, Thai by PyThaiNLP).

Marks stay inside words: Hindi's and Thai's vowel signs are marks, and SQLite's unicode61 tokenizer (this
index's before issue 21) split every Hindi word at them. Segmentation goes by script, not by the text's
detected language, so a Chinese name in an English document is still cut into words. Both segmenters load
their bundled dictionaries (no download) once, the first time their script is seen: ~1-2 s each.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable
from functools import cache

import regex

# Letters, marks and numbers (so `_` and `.` separate), and the private-use area SQLite's unicode61 also kept.
_WORD = regex.compile(r"[\p{L}\p{M}\p{N}\ue000-\uf8ff]+")
_UNSPACED = regex.compile(r"(\p{Han}+)|(\p{Thai}+)")


def _case_table() -> dict[int, str]:
    """Case folding where it is one character for one: the micro sign is Greek mu, a final sigma is σ."""
    table: dict[int, str] = {}
    for c in range(0x80, 0x3000):
        folded = chr(c).casefold()
        if len(folded) == 1 and folded != chr(c).lower():
            table[c] = folded
    return table


_CASE = _case_table()


def fold_case(text: str) -> str:
    """Lower case, one character for one (ß stays ß, as the German stemmer and stop words expect)."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFC", text).replace("\u03a3", "\u03c3").lower().translate(_CASE)


@cache
def _jieba() -> Callable[[str], list[str]]:
    import jieba

    jieba.setLogLevel(logging.WARNING)  # it announces building its prefix dictionary on stderr otherwise
    tokenizer = jieba.Tokenizer()
    return lambda run: list(tokenizer.cut(run, HMM=True))


@cache
def _thai() -> Callable[[str], list[str]]:
    from pythainlp.tokenize import word_tokenize

    return lambda run: list(word_tokenize(run, engine="newmm", keep_whitespace=False))


def _segmented(token: str) -> list[str]:
    """A token holding Han or Thai characters, its runs of those cut into words."""
    out: list[str] = []
    pos = 0
    for m in _UNSPACED.finditer(token):
        if m.start() > pos:
            out.append(token[pos : m.start()])
        cut = _jieba() if m.group(1) else _thai()
        out.extend(w for w in cut(m.group()) if _WORD.fullmatch(w))
        pos = m.end()
    if pos < len(token):
        out.append(token[pos:])
    return out


def words(text: str, lang: str) -> list[str]:
    """The text's words in order, case-folded, unstemmed. `lang` is accepted for the interface's sake:
    splitting depends on the script, which the characters themselves say."""
    out: list[str] = []
    for token in _WORD.findall(fold_case(text)):
        if token.isascii() or not _UNSPACED.search(token):
            out.append(token)
        else:
            out.extend(_segmented(token))
    return out


def _is_diacritic(c: int) -> bool:
    """The combining marks SQLite's unicode61 removes (sqlite3Fts5UnicodeIsdiacritic)."""
    if c < 768 or c > 817:
        return False
    return bool(0x08029FDF & (1 << (c - 768))) if c < 800 else bool(0x000361F8 & (1 << (c - 800)))


def _accent_table() -> dict[int, str]:
    """unicode61's remove_diacritics 2 for Latin letters: é -> e, ő -> o; ø, ł, й and ή keep their form."""
    table: dict[int, str] = {}
    for c in [*range(0x80, 0x2B0), *range(0x1E00, 0x1F00)]:
        base = unicodedata.normalize("NFD", chr(c))
        if len(base) > 1 and base[0].isascii() and all(_is_diacritic(ord(m)) for m in base[1:]):
            table[c] = base[0]
    table.update({c: "" for c in range(768, 818) if _is_diacritic(c)})
    return table


_ACCENTS = _accent_table()


def without_accents(term: str) -> str:
    """A term without Latin accents, as the index stores it: a question typed without them still matches."""
    return term if term.isascii() else term.translate(_ACCENTS)
