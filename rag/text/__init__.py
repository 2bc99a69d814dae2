"""Language-aware text analysis: one place for what a language changes in how words are found.

`terms(text)` is what the keyword index stores and what a query looks up: the text's words (segmented
where a script has no spaces), without stop words, stemmed in the text's language, without Latin accents.
"""

from __future__ import annotations

from rag.text.language import DEFAULT, detect_language
from rag.text.stems import stem, stem_all
from rag.text.stopwords import stopwords
from rag.text.words import without_accents, words

__all__ = ["DEFAULT", "detect_language", "stem", "stopwords", "terms", "words"]


def terms(text: str, lang: str | None = None) -> list[str]:
    """Index and query terms, in order: words -> stop words dropped -> stemmed -> accents dropped.
    `lang=None` detects the text's language. One ASCII character alone ("a", "2") is not a term."""
    lang = lang or detect_language(text)
    stop = stopwords(lang)
    kept = [w for w in words(text, lang) if w not in stop]
    distinct = list(dict.fromkeys(kept))
    stems = dict(zip(distinct, stem_all(distinct, lang), strict=True))
    out = [without_accents(stems[w]) for w in kept]
    return [t for t in out if len(t) > 1 or not t.isascii()]
