"""The answer-level metrics against values worked out by hand."""

from __future__ import annotations

import pytest

from rag.eval.metrics import contains_answer, f1, is_correct, kind_of, normalize, recall


def test_normalize_is_squads() -> None:
    assert normalize("The  Celsius crater, on the Moon!") == "celsius crater on moon"
    assert normalize("“An” apple’s core") == "apples core"


def test_recall_counts_gold_tokens_with_multiplicity() -> None:
    # gold "december 28 1856" (3 tokens); the answer holds "28" and "1856": 2/3.
    assert recall("He was born on the 28th... no, 28 in 1856", "December 28, 1856") == pytest.approx(2 / 3)
    # gold "new new york" needs "new" twice: the answer has it once -> 2/3.
    assert recall("new york", "new new york") == pytest.approx(2 / 3)
    assert recall("anything", "") == 0.0


def test_f1_by_hand() -> None:
    # answer: celsius crater on moon (4 tokens), gold: celsius crater (2): same 2, P=2/4, R=2/2, F1=2/3.
    assert f1("The Celsius crater on the Moon", "Celsius crater") == pytest.approx(2 / 3)
    assert f1("nothing shared", "Celsius") == 0.0


def test_kinds() -> None:
    assert kind_of([]) == "unanswerable"
    assert kind_of(["Yes", "yes, he was"]) == "yesno"
    assert kind_of(["no", "Decrease."]) == "open"  # a gold that names the choice is scored as open
    assert kind_of(["1733"]) == "open"


def test_correct_needs_recall_of_0_8_and_no_refusal() -> None:
    golds = ["Anders Celsius", "Celsius"]
    assert is_correct("It was Celsius [1].", golds, "open", refused=False)  # "celsius" is all of gold 2
    assert not is_correct("It was Celsius [1].", golds, "open", refused=True)
    # 4 of 5 gold tokens = 0.8: correct; 3 of 5 = 0.6: not.
    gold = ["one two three four five"]
    assert is_correct("one two three four", gold, "open", refused=False)
    assert not is_correct("one two three", gold, "open", refused=False)


def test_yes_no_is_the_opening_word() -> None:
    assert is_correct("Yes, he was born in Uppsala [1].", ["Yes"], "yesno", refused=False)
    assert not is_correct("No, he was born in Uppsala [1].", ["Yes"], "yesno", refused=False)
    assert not is_correct("He was born in Uppsala, yes [1].", ["Yes"], "yesno", refused=False)
    assert not is_correct("anything", [], "unanswerable", refused=False)


def test_contains_answer_is_whole_tokens_and_ignores_bare_yes_no() -> None:
    assert contains_answer("It was published in 1733 in Nuremberg.", ["1733"])
    assert not contains_answer("It was published in 17334.", ["1733"])
    assert not contains_answer("No one knows; yes, really.", ["No", "yes"])
