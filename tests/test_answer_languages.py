"""The answer step's checks in other languages (issue 21): words compared in the claim's own language, names
as each script can show them, figures in any digits, sentences split on every script's marks, the non-answer
recognised and given in the question's language, and the answer harness scoring and reporting per language.

The checks are pure functions over real passages; the support check's model verdict is the one thing passed
in (a number, as the real model's P(yes) would be)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.answering import language, verify
from rag.answering.claims import ClaimOptions, check_claim
from rag.answering.language import Languages
from rag.answering.plain import check as plain_check
from rag.answering.plain import is_refusal
from rag.answering.prompts import Prompts
from rag.answering.quotes import sentences as sentence_spans
from rag.answering.reply import Claim
from rag.answering.sentences import split
from rag.answering.verdict import Withheld
from rag.eval import answers as ea
from rag.eval import by_language
from rag.eval import metrics as m
from rag.retrieval.retriever import Passage
from tests.conftest import ROOT

PROMPTS = ROOT / "prompts"  # this checkout's templates, whatever seedrag is installed

GERMAN = (
    "Der Sächsische Garten ist ein öffentlicher Park im Zentrum von Warschau. Er wurde Ende des 17. Jahrhunderts "
    "angelegt. Von 1870 bis 1939 standen in den Gärten das Sommertheater und ein Café."
)
ENGLISH = (
    "The Saxon Garden is a public park in the centre of Warsaw. From 1870 to 1939 the Summer Theatre stood in "
    "the garden, one of the most popular theatres of the city."
)
CHINESE = "萨克森花园是华沙市中心的一座公共公园。从1870年到1939年，花园里有一座夏季剧院。"
ARABIC = "حديقة ساكسونيا هي حديقة عامة في وسط وارسو. من عام 1870 إلى عام 1939 كان المسرح الصيفي في الحديقة."


def passage(text: str, n: int = 0) -> Passage:
    return Passage(f"c{n}", f"/docs/{n}.md", f"{n}.md", "", 0, len(text), text, 0.5)


def judged(p_yes: float | None):  # type: ignore[no-untyped-def]
    """The support check's verdict as the model would give it, and a record of what it was asked."""
    asked: list[tuple[str, str, str]] = []

    def judge(evidence: str, question: str, claim: str) -> float | None:
        asked.append((evidence, question, claim))
        return p_yes

    return judge, asked


def check(question: str, claim: str, texts: list[str], evidence: list[int], p_yes: float | None = 0.9):  # type: ignore[no-untyped-def]
    passages = [passage(t, i) for i, t in enumerate(texts)]
    langs = Languages.of(question, texts)
    every = split(passages, langs)
    judge, asked = judged(p_yes)
    result = check_claim(question, Claim(claim, tuple(evidence)), every, passages, judge, ClaimOptions(), langs)
    return result, every, asked


def test_german_stems_match_inflected_words_that_english_stems_miss() -> None:
    assert verify.stems("Gärten", "de") == verify.stems("Garten", "de")
    assert verify.stems("Gärten", "en") != verify.stems("Garten", "en")


def test_a_german_claim_passes_the_lexical_check_on_its_german_passage() -> None:
    every = split([passage(GERMAN)], Languages("de", ("de",)))
    theatre = next(s.id for s in every if "Sommertheater" in s.text)
    r, _, _ = check("Was stand im Sächsischen Garten?", "Im Garten stand das Sommertheater.", [GERMAN], [theatre])
    assert r.languages == {"question": "de", "claim": "de", "evidence": "de"}
    assert r.skipped == []
    assert r.lexical == 1.0  # "Garten" found in "Gärten", "stand" in "standen": German stems
    assert r.text == "Im Garten stand das Sommertheater." and r.withheld is None


def test_a_german_claim_whose_words_are_not_in_its_passage_is_withheld() -> None:
    r, _, _ = check("Was stand im Sächsischen Garten?", "Dort stand ein Zoo mit Elefanten.", [GERMAN], [3])
    assert r.lexical is not None and r.lexical < 0.5
    assert Withheld.ANSWER_NOT_IN_PASSAGE in r.failed and r.text is None


def test_a_german_ordinal_does_not_end_a_sentence() -> None:
    spans = sentence_spans(GERMAN, "de")
    assert [GERMAN[s:e] for s, e in spans][1] == "Er wurde Ende des 17. Jahrhunderts angelegt."
    r, every, _ = check("Wann wurde der Garten angelegt?", "Ende des 17. Jahrhunderts.", [GERMAN], [2])
    assert every[1].text.startswith("Er wurde Ende des 17.")
    assert r.numbers == [] and r.text is not None


def test_a_chinese_claim_is_checked_against_its_chinese_passage() -> None:
    every = split([passage(CHINESE)], Languages("zh", ("zh",)))
    assert [s.text for s in every] == [
        "萨克森花园是华沙市中心的一座公共公园。",
        "从1870年到1939年，花园里有一座夏季剧院。",
    ]
    r, _, _ = check("夏季剧院在哪里？", "夏季剧院位于萨克森花园。", [CHINESE], [2])
    assert r.languages["claim"] == "zh" and r.skipped == []
    assert r.lexical is not None and r.lexical >= 0.5
    assert r.text == "夏季剧院位于萨克森花园。"
    invented, _, _ = check("夏季剧院在哪里？", "夏季剧院位于北京的故宫博物院。", [CHINESE], [2])
    assert invented.text is None and Withheld.ANSWER_NOT_IN_PASSAGE in invented.failed


def test_a_chinese_span_of_its_evidence_is_found_by_characters() -> None:
    assert language.is_span("花园里有一座夏季剧院", "从1870年到1939年，花园里有一座夏季剧院。", "zh")
    assert not language.is_span("花园里有一座冬季剧院", "从1870年到1939年，花园里有一座夏季剧院。", "zh")


@pytest.mark.parametrize(
    ("question", "lang", "text"),
    [("夏季剧院在哪里？", "zh", CHINESE), ("أين كان المسرح الصيفي؟", "ar", ARABIC)],
    ids=["zh", "ar"],
)
def test_a_claim_in_a_script_without_case_is_not_withheld_for_lacking_capitals(
    question: str, lang: str, text: str
) -> None:
    assert language.names(question, lang) == set()
    r, every, _ = check(question, every_sentence_but_first(text, lang), [text], [2])
    assert r.missing == [] and Withheld.QUESTION_NAMES_NOT_IN_PASSAGE not in r.failed
    assert r.text is not None, r


def every_sentence_but_first(text: str, lang: str) -> str:
    every = split([passage(text)], Languages(lang, (lang,)))
    return every[1].text


def test_names_by_script() -> None:
    # Latin-script words are the names a caseless question shows; found in a passage without spaces.
    assert language.names("NFL 的哪支球队赢得了第50届超级碗？", "zh") == {"nfl"}
    assert language.missing_names("NFL 的哪支球队赢得了超级碗？", "丹佛野马队赢得了NFL的冠军。", "", "zh") == set()
    # German capitalises every noun: one capital is not a name, a run of two is.
    assert language.names("Wo befand sich das Sommertheater?", "de") == set()
    assert language.names("Wo liegt der Sächsische Garten?", "de") == {"sächsische", "garten"}
    assert language.names("Who founded the Summer Theatre in Warsaw?") == {"summer", "theatre", "warsaw"}


def test_a_german_claim_from_an_english_passage_is_judged_by_the_support_check_alone() -> None:
    question = "Was stand von 1870 bis 1939 im Sächsischen Garten?"
    claim = "Dort stand das Sommertheater."
    r, _, asked = check(question, claim, [ENGLISH], [2])
    assert r.languages == {"question": "de", "claim": "de", "evidence": "en"}
    assert r.lexical is None and any(s.startswith("lexical") for s in r.skipped)
    assert r.entailment == "asked" and asked and asked[0][2] == claim
    assert r.text == claim
    doubted, _, _ = check(question, claim, [ENGLISH], [2], p_yes=0.1)
    assert doubted.text is None and doubted.withheld == Withheld.NOT_ENTAILED
    unknown, _, _ = check(question, claim, [ENGLISH], [2], p_yes=None)
    assert unknown.text is None and unknown.withheld == Withheld.NO_VERDICT


def test_figures_in_any_digits_and_separators_are_the_same_figure() -> None:
    assert language.numbers("١٩٣٩") == language.numbers("1939") == {"1939"}
    assert language.numbers("१८७०") == {"1870"}
    assert language.numbers("1.000") == language.numbers("1,000") == {"1000"}
    assert language.numbers("2,5") == language.numbers("2.5") == {"2.5"}
    r, _, _ = check("متى كان المسرح الصيفي في الحديقة؟", "من ١٨٧٠ إلى ١٩٣٩.", [ARABIC], [2])
    assert r.numbers == [], r


def test_sentences_end_on_every_scripts_marks() -> None:
    text = "它于1727年开放！你知道吗？ यह पहला वाक्य है। यह दूसरा वाक्य है। เอกสารนี้เป็นภาษาไทย ประโยคที่สองอยู่ที่นี่"
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "它于1727年开放！",
        "你知道吗？",
        "यह पहला वाक्य है।",
        "यह दूसरा वाक्य है।",
        "เอกสารนี้เป็นภาษาไทย",
        "ประโยคที่สองอยู่ที่นี่",
    ]


def test_a_german_refusal_is_recognised_and_given_in_german() -> None:
    prompts = Prompts.load(PROMPTS)
    german = prompts.refusal_in("de")
    assert german == "Die Dokumente beantworten diese Frage nicht."
    assert is_refusal(german, prompts.refusal, prompts.refusals)
    assert is_refusal("Das wird in den Texten nicht erwähnt. [1]", prompts.refusal, prompts.refusals)
    assert is_refusal("文档中没有提到这一点。", prompts.refusal, prompts.refusals)
    assert not is_refusal("Der Park ist seit 1727 öffentlich zugänglich. [1]", prompts.refusal, prompts.refusals)
    assert prompts.refusal_in("en") == prompts.refusal and prompts.refusal_in("xx") == prompts.refusal


def test_the_non_answer_file_has_each_xquad_language() -> None:
    data = json.loads((PROMPTS / "refusals.json").read_text(encoding="utf-8"))
    for lang in ("de", "es", "ro", "vi", "tr", "ru", "el", "ar", "th", "hi", "zh"):
        assert data[lang]["refusal"] and data[lang]["no_passages"] and data[lang]["phrases"], lang
        assert language.detect(data[lang]["no_passages"]) == lang, lang


def test_gold_answers_without_spaces_are_matched_by_characters() -> None:
    assert m.recall("夏季剧院位于萨克森花园。", "萨克森花园") == 1.0
    assert m.is_correct("夏季剧院位于萨克森花园。[1]", ["萨克森花园"], "open", False)
    assert not m.is_correct("夏季剧院位于华沙。", ["萨克森花园"], "open", False)
    assert m.contains_answer(CHINESE, ["夏季 剧院"])
    assert m.tokens("The cat, the hat.") == ["cat", "hat"]  # English scored as before


def test_a_multilingual_qa_folder_is_read_and_reported_per_language(tmp_path: Path) -> None:
    corpus = [
        {"_id": "en-1-0", "title": "", "text": ENGLISH, "metadata": {"lang": "en"}},
        {"_id": "de-1-0", "title": "", "text": GERMAN, "metadata": {"lang": "de"}},
        {"_id": "zh-1-0", "title": "", "text": CHINESE, "metadata": {"lang": "zh"}},
    ]
    queries = [
        {"_id": f"{lang}-q{i}", "text": text, "metadata": {"lang": lang, "answers": [gold]}}
        for lang, text, gold in [
            ("en", "Where was the Summer Theatre?", "Saxon Garden"),
            ("de", "Wo stand das Sommertheater?", "Sächsischer Garten"),
            ("zh", "夏季剧院在哪里？", "萨克森花园"),
        ]
        for i in range(2)
    ]
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in corpus), encoding="utf-8")
    (tmp_path / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries), encoding="utf-8")
    rows = [f"{q['_id']}\t{d['_id']}\t{2 if d['_id'][:2] == q['_id'][:2] else 1}" for q in queries for d in corpus]
    (tmp_path / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(rows), encoding="utf-8")

    data = ea.load_qa(tmp_path, langs={"de", "zh"})
    assert set(data.corpus) == {"de-1-0", "zh-1-0"}
    assert [(q.lang, q.doc, q.docs) for q in data.questions[:1]] == [("de", "de-1-0", ("de-1-0", "zh-1-0"))]
    assert sorted(q.lang or "" for q in ea.sample(data.questions, 2)) == ["de", "zh"]

    de, zh = data.questions[0], data.questions[2]
    verdicts = [
        ea.Verdict(de, "Es stand im Sächsischen Garten. [1]", False, False, 0.5, 0.5, [], [True], True, 1.0),
        ea.Verdict(zh, "夏季剧院位于萨克森花园。[1]", False, True, 1.0, 1.0, [], [True], True, 1.0),
    ]
    rows_by = ea.summarize(verdicts)["by_language"]
    assert rows_by["de"]["answered_in_language"] == 1.0 and rows_by["zh"]["accuracy"] == 1.0
    assert rows_by["de"]["accuracy"] == 0.0
    lines = by_language.table(rows_by)
    assert lines[1].startswith("de") and lines[2].startswith("zh")


def test_a_plain_german_reply_is_checked_sentence_by_sentence_in_german() -> None:
    """A server without schemas: each sentence of its plain reply kept only when a passage supports it, the
    words compared with German stems ("öffentlich" in "Öffentlichkeit")."""
    passage_text = "Seit dem Jahr 1727 ist der Park für die Öffentlichkeit zugänglich."
    reply = "Der Park ist seit 1727 öffentlich zugänglich. Im Park stand ein großer Zoo mit Elefanten."
    checked = plain_check(reply, [passage_text], langs=Languages("de", ("de",)))
    assert checked.text == "Der Park ist seit 1727 öffentlich zugänglich [1]."
    assert checked.dropped == ["Im Park stand ein großer Zoo mit Elefanten."]
