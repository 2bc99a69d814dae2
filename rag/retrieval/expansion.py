"""Pseudo-relevance feedback: the best passages of a first search say what else the question is about.

Keyword side (RM3-like): index terms frequent in the feedback passages and rare in the index are run as a
second BM25 query whose score is added, scaled down, to the question's own. Vector side (Rocchio): the
question's vector moves towards the mean of the feedback passages' vectors. Both read only what the
index already holds, so they work on any collection and need no model beyond the embedder.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import numpy as np

from rag.text import detect_language, terms


def _useful(term: str) -> bool:
    """Words of letters only (numbers and ids make poor expansions), of 3 letters or more; 2 in scripts such as
    Chinese, whose words are short."""
    return not any(c.isdigit() for c in term) and (len(term) >= 3 or (len(term) == 2 and not term.isascii()))


def candidate_terms(texts: list[str], exclude: set[str]) -> list[Counter[str]]:
    """Per text, counts of its index terms (in the text's own language), the excluded ones left out."""
    counts: list[Counter[str]] = []
    for text in texts:
        counts.append(Counter(t for t in terms(text, detect_language(text)) if _useful(t) and t not in exclude))
    return counts


def expansion_terms(
    texts: list[str],
    question_terms: list[str],
    doc_freq: Callable[[list[str]], dict[str, int]],
    n_chunks: int,
    n_terms: int,
) -> list[str]:
    """The n_terms index terms that best describe the feedback passages beyond the question's own terms.

    Score = mean over passages of the term's relative frequency, times its idf: frequent in what was found,
    rare in the collection. Terms found in only one passage are dropped as noise.
    """
    counts = candidate_terms(texts, set(question_terms))
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
    return [s for _, s in ranked[:n_terms]]


def rocchio(query: np.ndarray, feedback: np.ndarray, weight: float) -> np.ndarray:
    """The query vector moved towards the centroid of the feedback vectors, renormalised."""
    if len(feedback) == 0 or weight <= 0:
        return query
    moved = query + weight * feedback.mean(axis=0)
    return (moved / (np.linalg.norm(moved) or 1.0)).astype(np.float32)
