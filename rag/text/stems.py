"""Stems per language: Snowball (PyStemmer) where it has the language, the word itself otherwise.

Never English stemming of another language: a word of a language without a stemmer is its own stem. English
uses "porter", the original Porter algorithm that SQLite FTS5's porter tokenizer (this index's stemmer before
issue 21) implements: Snowball's newer English stemmer measured worse on Cranfield (bench/keyword_languages.py).
"""

from __future__ import annotations

from functools import cache

import Stemmer

# ISO 639-1 -> PyStemmer's algorithm name.
SNOWBALL = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "cs": "czech", "da": "danish",
    "nl": "dutch", "en": "porter", "eo": "esperanto", "et": "estonian", "fi": "finnish", "fr": "french",
    "de": "german", "el": "greek", "hi": "hindi", "hu": "hungarian", "id": "indonesian", "ga": "irish",
    "it": "italian", "lt": "lithuanian", "ne": "nepali", "no": "norwegian", "fa": "persian", "pl": "polish",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian", "es": "spanish", "sv": "swedish",
    "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}  # fmt: skip


@cache
def _stemmer(algorithm: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(algorithm)


def stem(word: str, lang: str) -> str:
    """The word's stem in its language (lower-case words in, as `words` gives them); itself where none."""
    algorithm = SNOWBALL.get(lang)
    return str(_stemmer(algorithm).stemWord(word)) if algorithm else word


def stem_all(words: list[str], lang: str) -> list[str]:
    """Stems of many words at once (PyStemmer caches and loops in C)."""
    algorithm = SNOWBALL.get(lang)
    return [str(s) for s in _stemmer(algorithm).stemWords(words)] if algorithm else list(words)
