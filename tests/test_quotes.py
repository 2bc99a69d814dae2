"""Locating the model's quote in the passages: exact, normalised, fuzzy, and never a quote that is not there."""

from __future__ import annotations

from rag.answering.quotes import locate, sentence_around, sentences

PASSAGES = [
    "The plant opened in 2019 and employs 300 people. It exports steel to Italy and Austria.",
    "Serbia is interested in importing Azerbaijani oil, Vučić said on Monday. Talks continue.",
]


def test_exact_quote_gives_its_span() -> None:
    found = locate("It exports steel to Italy and Austria.", PASSAGES)
    assert found is not None and found.how == "exact" and found.passage == 0
    assert PASSAGES[0][found.start : found.end] == "It exports steel to Italy and Austria."


def test_normalised_quote_maps_back_to_the_exact_span() -> None:
    found = locate("serbia is interested in  importing azerbaijani oil", PASSAGES)
    assert found is not None and found.how == "normalised" and found.passage == 1
    assert PASSAGES[1][found.start : found.end] == "Serbia is interested in importing Azerbaijani oil"


def test_a_quote_with_a_dropped_word_is_found_as_its_sentence() -> None:
    found = locate("The plant opened in 2019 and employs about 300 people.", PASSAGES)
    assert found is not None and found.how == "fuzzy"
    s, e = sentence_around(PASSAGES[0], found.start, found.end)
    assert PASSAGES[0][s:e] == "The plant opened in 2019 and employs 300 people."


def test_a_light_paraphrase_is_found_where_its_words_stand_together() -> None:
    text = "The visit of President Ilham Aliyev to Serbia’s Belgrade on November 23 has opened a new page."
    found = locate("President Ilham Aliyev visited Belgrade on November 23.", [text])
    assert found is not None and found.how == "fuzzy"
    assert text[found.start : found.end] == "President Ilham Aliyev to Serbia’s Belgrade on November 23"


def test_an_invented_quote_is_in_no_passage() -> None:
    assert locate("Serbia has a population of 6.8 million.", PASSAGES) is None
    # Every word of this quote is in passage 1, but not as one sentence of it: still not a quote.
    assert locate("Azerbaijani steel employs Italy in 2019.", PASSAGES) is None
    assert locate("oil", PASSAGES) is None  # too short to prove anything


def test_sentences_and_widening_to_the_sentence() -> None:
    assert [PASSAGES[0][s:e] for s, e in sentences(PASSAGES[0])] == [
        "The plant opened in 2019 and employs 300 people.",
        "It exports steel to Italy and Austria.",
    ]
    start = PASSAGES[1].index("importing")
    s, e = sentence_around(PASSAGES[1], start, start + 9)
    assert PASSAGES[1][s:e] == "Serbia is interested in importing Azerbaijani oil, Vučić said on Monday."
