"""Stop words per language: too common to say anything about relevance, so left out of index and query terms.

English (en.txt) keeps the list seedrag always had. Other languages have short lists of their commonest function
words (articles, prepositions, pronouns, auxiliaries, question words), one file each in stopwords/, after
the Snowball project's lists where it has one. Short on purpose: the big collections (stopwords-iso has
"россия" and "acht" among Russian and German stop words) drop words people ask about, and BM25's idf
already discounts common words; stop words mostly keep queries small and let phrase pairs skip them.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def stopwords(lang: str) -> frozenset[str]:
    """The stop words of a language (ISO 639-1), lower case; empty for a language without a list."""
    path = files("rag.text").joinpath("stopwords", f"{lang}.txt")
    if not (lang.isalpha() and path.is_file()):
        return frozenset()
    return frozenset(path.read_text(encoding="utf-8").split())
