"""Pseudo-relevance feedback: the best passages of a first search say what else the question is about.

Keyword side (RM3-like): terms frequent in the feedback passages and rare in the index are run as a
second BM25 query whose score is added, scaled down, to the question's own. Vector side (Rocchio): the
question's vector moves towards the mean of the feedback passages' vectors. Both read only what the
index already holds, so they work on any collection and need no model beyond the embedder.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable

import numpy as np

from rag.index.terms import STOPWORDS, stem

_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)  # words of letters only: numbers and ids make poor expansions


def candidate_terms(texts: list[str], exclude: set[str]) -> tuple[list[Counter[str]], dict[str, str]]:
    """Per text, stem counts (stopwords and excluded stems left out); and a surface word for each stem."""
    counts: list[Counter[str]] = []
    surface: dict[str, Counter[str]] = {}
    for text in texts:
        c: Counter[str] = Counter()
        for word in _WORD.findall(text.lower()):
            if word in STOPWORDS:
                continue
            s = stem(word)
            if s in exclude:
                continue
            c[s] += 1
            surface.setdefault(s, Counter())[word] += 1
        counts.append(c)
    return counts, {s: words.most_common(1)[0][0] for s, words in surface.items()}


def expansion_terms(
    texts: list[str],
    question_terms: list[str],
    doc_freq: Callable[[list[str]], dict[str, int]],
    n_chunks: int,
    n_terms: int,
) -> list[str]:
    """The n_terms words that best describe the feedback passages beyond the question's own words.

    Score = mean over passages of the term's relative frequency, times its idf: frequent in what was found,
    rare in the collection. Terms found in only one passage are dropped as noise.
    """
    counts, surface = candidate_terms(texts, {stem(t) for t in question_terms})
    scores: dict[str, float] = {}
    for c in counts:
        total = sum(c.values()) or 1
        for s, n in c.items():
            scores[s] = scores.get(s, 0.0) + n / total
    support = Counter(s for c in counts for s in c)
    df_of = doc_freq([s for s in scores if support[s] >= 2])
    ranked = []
    for s, score in scores.items():
        df = df_of.get(s, 0)
        if support[s] < 2 or df == 0:
            continue
        ranked.append((score * math.log(1 + n_chunks / df), s))
    ranked.sort(reverse=True)
    return [surface[s] for _, s in ranked[:n_terms]]


def rocchio(query: np.ndarray, feedback: np.ndarray, weight: float) -> np.ndarray:
    """The query vector moved towards the centroid of the feedback vectors, renormalised."""
    if len(feedback) == 0 or weight <= 0:
        return query
    moved = query + weight * feedback.mean(axis=0)
    return (moved / (np.linalg.norm(moved) or 1.0)).astype(np.float32)
