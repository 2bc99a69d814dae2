"""Answer-level scoring: SQuAD-normalised token overlap, the correctness rule, yes/no polarity, and the
question kinds. Pure functions, checked against hand-computed values in tests/test_answer_eval.py.

A multi-part question (`metadata.parts`: its `answers` are the parts of one answer) is correct when the answer
holds every part; its share of parts found is reported too.

The rule (stated in the README): an answer is *correct* when it is not a refusal and it holds at least 80% of
the tokens of one gold answer (SQuAD normalisation: lower case, punctuation and the articles a/an/the dropped).
A yes/no question (every gold answer starts with yes or no) is correct when the answer opens with the yes or
no of a gold answer. Token F1 is SQuAD's, best over the gold answers; a refusal scores 0.

Scripts written without spaces (Chinese, Japanese, Thai...) are compared character by character, as MLQA
scores Chinese: each such character is a token, a run of Latin letters or digits among them one token, so
"萨克森花园" is found in "夏季剧院位于萨克森花园。". Punctuation of every script is dropped.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from typing import Literal

Kind = Literal["open", "yesno", "unanswerable", "multi"]
CORRECT_RECALL = 0.8

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation + "‘’“”–—")
_LEADING = re.compile(r"\s*[\"'(]*(yes|no)\b", re.I)


_NO_SPACE_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\u0e00-\u0eff\u1780-\u17ff\u1000-\u109f]")
_PIECE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\u0e00-\u0eff\u1780-\u17ff\u1000-\u109f]|[^\W_]+")


def _no_punct(text: str) -> str:
    return "".join(" " if unicodedata.category(c).startswith("P") else c for c in text)


def normalize(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower().translate(_PUNCT)
    if not text.isascii():
        text = _no_punct(text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def tokens(text: str) -> list[str]:
    text = normalize(text)
    if not _NO_SPACE_CHAR.search(text):
        return text.split()
    out: list[str] = []
    for m in _PIECE.finditer(text):
        piece = m.group(0)
        # Thai vowel signs and tone marks are combining marks: they stay with the letter they follow.
        if out and len(piece) == 1 and unicodedata.category(piece).startswith("M"):
            out[-1] += piece
        else:
            out.append(piece)
    return out


def recall(answer: str, gold: str) -> float:
    """Share of the gold answer's tokens (with multiplicity) found in the answer."""
    g = Counter(tokens(gold))
    if not g:
        return 0.0
    common = g & Counter(tokens(answer))
    return sum(common.values()) / sum(g.values())


def f1(answer: str, gold: str) -> float:
    a, g = Counter(tokens(answer)), Counter(tokens(gold))
    same = sum((a & g).values())
    if not same:
        return 0.0
    precision, rec = same / sum(a.values()), same / sum(g.values())
    return 2 * precision * rec / (precision + rec)


def best(metric, answer: str, golds: list[str]) -> float:  # type: ignore[no-untyped-def]
    return max((metric(answer, g) for g in golds), default=0.0)


def kind_of(answers: list[str]) -> Kind:
    if not answers:
        return "unanswerable"
    if all(polarity(a) for a in answers):
        return "yesno"
    return "open"


def polarity(text: str) -> str | None:
    """'yes' or 'no' when the text opens with that word, else None."""
    m = _LEADING.match(text)
    return m.group(1).lower() if m else None


def parts_found(answer: str, parts: list[str]) -> float:
    """A multi-part question's gold parts (a list, the two sides of a comparison, the reasons): the share of
    them the answer holds, each by the same rule as an open answer."""
    if not parts:
        return 0.0
    return sum(recall(answer, p) >= CORRECT_RECALL for p in parts) / len(parts)


def is_correct(answer: str, golds: list[str], kind: Kind, refused: bool) -> bool:
    if refused or kind == "unanswerable":
        return False
    if kind == "multi":
        return parts_found(answer, golds) == 1.0
    if kind == "yesno":
        said = polarity(answer)
        return said is not None and said in {polarity(g) for g in golds}
    return best(recall, answer, golds) >= CORRECT_RECALL


def contains_answer(passage: str, golds: list[str]) -> bool:
    """A passage holds the answer when one gold answer, normalised, occurs in it as whole tokens (as characters
    where the gold answer's script has no spaces)."""
    text = f" {normalize(passage)} "
    spaceless = text.replace(" ", "")
    for g in golds:
        gold = normalize(g)
        if not gold or gold in ("yes", "no"):
            continue
        if f" {gold} " in text or (_NO_SPACE_CHAR.search(gold) and gold.replace(" ", "") in spaceless):
            return True
    return False
