"""Words as the keyword index sees them: rag/text's terms of each chunk in the chunk's own language.

Both backends index the same analysed terms, so SQLite FTS5 (rag/index/keyword.py, a plain tokenizer over
a column of terms) and PostgreSQL (rag/index/postgres.py, its own postings) rank alike, and pseudo-relevance
feedback (rag/retrieval/expansion.py) can look the index's document frequencies up by term. A query is
analysed in its own detected language; `search_any` of either backend takes terms, or two terms joined by a
space for a phrase, exactly as `query_terms` and `chunk_terms` give them.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.text import detect_language, stopwords, terms

# The answer checks' English stop words (rag/answering/verify.py); the keyword index uses rag.text per language.
STOPWORDS = stopwords("en")


@dataclass(frozen=True)
class ChunkTerms:
    """A chunk's language and the terms of its title and text, in order, as the index stores them."""

    lang: str
    title: list[str]
    text: list[str]

    @property
    def length(self) -> int:
        """The row's length in terms, for BM25."""
        return len(self.title) + len(self.text)


def chunk_terms(title: str, text: str, lang: str | None = None) -> ChunkTerms:
    """Detects the text's language (unless given) and analyses the title in it too: a title rarely says enough to
    tell, and is in its document's language."""
    lang = lang or detect_language(text)
    return ChunkTerms(lang, terms(title, lang), terms(text, lang))


def query_terms(text: str, lang: str | None = None) -> list[str]:
    """A question's distinct terms, in order, in its detected language (unless given).

    Only in its own language: adding its terms as English analyses them (names are often written alike across
    languages) raised XQuAD's keyword nDCG@10 by 0.02 in four languages, but lowered the question's own
    paragraph's MRR in six, and by 0.16 for Spanish questions over Spanish paragraphs alone, where the English
    reading of Spanish words only adds noise (bench/keyword_languages.py)."""
    return list(dict.fromkeys(terms(text, lang)))
