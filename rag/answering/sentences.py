"""The retrieved passages as numbered sentences: what the model reads, and what its evidence ids point at.

A 1.5B model copies badly and from the wrong passage, so it is not asked to copy: each sentence it may rely on
carries a number, and it names numbers (held by the reply schema to numbers that exist). Code maps a number
back to an exact span of a passage. Only the sentences most likely to matter are shown (`focus`), in document
order and grouped by passage, because this machine's model reads ~40 prompt tokens a second: the prompt is
most of an answer's time.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from rag.answering import verify
from rag.answering.language import Languages, no_spaces
from rag.answering.quotes import sentences as sentence_spans
from rag.retrieval.retriever import Passage


@dataclass(frozen=True)
class Sentence:
    id: int  # 1-based, as the model sees it
    passage: int  # 0-based index into the passages
    start: int  # offsets into that passage's text
    end: int
    text: str


def split(passages: list[Passage], langs: Languages | None = None) -> list[Sentence]:
    """Every sentence of every passage, numbered in order. Very short fragments ("(b)", "Fig. 2") join the next.
    Chunks overlap, so a sentence two passages share is numbered once, in the first (better ranked) of them."""
    out = _split(passages, langs or Languages.english(len(passages)))
    seen: set[tuple[str, int, int]] = set()
    unique: list[Sentence] = []
    for s in out:
        where = (passages[s.passage].source, passages[s.passage].start + s.start, passages[s.passage].start + s.end)
        if where in seen:
            continue
        seen.add(where)
        unique.append(Sentence(len(unique) + 1, s.passage, s.start, s.end, s.text))
    return unique


def _split(passages: list[Passage], langs: Languages) -> list[Sentence]:
    out: list[Sentence] = []
    for i, p in enumerate(passages):
        pending: tuple[int, int] | None = None
        for s, e in sentence_spans(p.text, langs.passage(i)):
            if pending is not None:
                s = pending[0]
                pending = None
            if _fragment(p.text[s:e]):
                pending = (s, e)
                continue
            out.append(Sentence(len(out) + 1, i, s, e, p.text[s:e]))
        if pending is not None:
            if out and out[-1].passage == i:
                last = out[-1]
                out[-1] = Sentence(last.id, i, last.start, pending[1], p.text[last.start : pending[1]])
            else:
                out.append(Sentence(len(out) + 1, i, pending[0], pending[1], p.text[pending[0] : pending[1]]))
    return out


def _fragment(text: str) -> bool:
    """Too short to stand as a sentence: fewer than 3 words, or 6 characters where words are not spaced."""
    if no_spaces(text):
        return sum(c.isalnum() for c in text) < 6
    return len(text.split()) < 3


def focus(question: str, sentences: list[Sentence], keep: int, langs: Languages | None = None) -> list[Sentence]:
    """The `keep` sentences most likely to hold the answer, in their original order (0: all of them).

    A sentence scores the idf-weighted share of the question's content words it holds (idf over these
    sentences, so a word every sentence has counts little), plus a little for its passage's rank (retrieval
    already judged the passage as a whole) and for following a sentence that scores (an answer often comes
    right after the sentence that names the subject)."""
    if keep <= 0 or len(sentences) <= keep:
        return sentences
    langs = langs or Languages.english()
    asked = verify.stems(question, langs.question) - verify.YES_NO
    # Each sentence read in its own language and in the question's (a misread passage still matches).
    bags = [verify.stems(s.text, langs.question) | verify.stems(s.text, langs.passage(s.passage)) for s in sentences]
    df = Counter(w for bag in bags for w in bag & asked)
    n = len(sentences)
    weight = {w: math.log(1 + n / df[w]) for w in asked if df[w]}
    total = sum(weight.values()) or 1.0
    lexical = [sum(weight.get(w, 0.0) for w in bag) / total for bag in bags]
    passages = max(s.passage for s in sentences) + 1
    scores = []
    for k, s in enumerate(sentences):
        prior = 0.15 * (1 - s.passage / passages)
        after = 0.3 * lexical[k - 1] if k and sentences[k - 1].passage == s.passage else 0.0
        scores.append(lexical[k] + prior + after)
    best = sorted(range(n), key=lambda k: -scores[k])[:keep]
    return [sentences[k] for k in sorted(best)]


def render(sentences: list[Sentence], passages: list[Passage], block: str) -> str:
    """Passage blocks (the `passage.md` template) whose text is the shown sentences, each as `[id] text`."""
    out = []
    for i, p in enumerate(passages):
        mine = [s for s in sentences if s.passage == i]
        if not mine:
            continue
        text = "\n".join(f"[{s.id}] {verify.fence(s.text)}" for s in mine)
        title = verify.fence(p.title or p.name).replace('"', "'")
        out.append(block.format(n=i + 1, title=title, name=p.name, text=text))
    return "\n\n".join(out)
