"""rag/text: language detection, words, stems and stop words per language."""

from __future__ import annotations

import Stemmer

from rag.text import DEFAULT, detect_language, stem, stopwords, terms, words


def test_detects_the_language_of_a_question_and_defaults_when_too_short() -> None:
    assert detect_language("Wie viele Einwohner hat die Stadt Warschau heute?") == "de"
    assert detect_language("华沙现在有多少居民？") == "zh"
    assert detect_language("วอร์ซอมีประชากรกี่คน") == "th"
    assert detect_language("Сколько жителей в Варшаве?") == "ru"
    assert detect_language("How many people live in Warsaw today?") == "en"
    assert detect_language("") == DEFAULT == "en"
    assert detect_language("?? 42") == DEFAULT


def test_german_is_stemmed_with_german_snowball_not_english() -> None:
    german = Stemmer.Stemmer("german")
    assert stem("krankenhäuser", "de") == german.stemWord("krankenhäuser") == "krankenhaus"
    assert stem("häuser", "de") != Stemmer.Stemmer("porter").stemWord("häuser")
    # Stop words go, the rest is stemmed in German and loses its accents, as the index stores it.
    assert terms("Die Bundesregierung beschließt neue Maßnahmen für Krankenhäuser", "de") == [
        "bundesregier",
        "beschliesst",
        "neu",
        "massnahm",
        "krankenhaus",
    ]


def test_chinese_is_segmented_by_jieba_and_thai_by_pythainlp() -> None:
    assert words("中华人民共和国的经济发展很快", "zh") == ["中华人民共和国", "的", "经济", "发展", "很快"]
    # 的 is a stop word.
    assert terms("中华人民共和国的经济发展很快", "zh") == ["中华人民共和国", "经济", "发展", "很快"]
    assert words("ภาษาไทยเป็นภาษาที่สวยงาม", "th") == ["ภาษาไทย", "เป็น", "ภาษา", "ที่", "สวยงาม"]
    # Segmentation follows the script: a Chinese name inside English text is cut too.
    assert words("The 北京大学 campus", "en") == ["the", "北京大学", "campus"]


def test_arabic_greek_russian_and_hindi_are_stemmed_in_their_language() -> None:
    assert terms("ذهب الطلاب إلى المدارس الجديدة", "ar") == ["ذهب", "طلاب", "مدارس", "جديد"]
    assert terms("Η Ελλάδα είναι μια χώρα στην Ευρώπη", "el") == ["ελλαδ", "χωρ", "ευρωπ"]
    assert terms("Россия является крупнейшей страной мира", "ru") == ["росс", "явля", "крупн", "стран", "мир"]
    # Hindi's vowel signs are marks: they stay inside the word instead of splitting it.
    assert words("हिन्दी भाषा", "hi") == ["हिन्दी", "भाषा"]


def test_english_terms_are_porter_stems_without_stop_words() -> None:
    assert terms("The flows of supersonic jets over the wings", "en") == ["flow", "superson", "jet", "wing"]
    assert stem("generalization", "en") == Stemmer.Stemmer("porter").stemWord("generalization")
    assert "the" in stopwords("en") and "der" in stopwords("de") and "的" in stopwords("zh")


def test_a_language_without_a_stemmer_keeps_its_words_and_detection_is_used_when_no_language_is_given() -> None:
    assert stem("người", "vi") == "người"
    assert stopwords("xx") == frozenset()
    assert terms("Wie viele Einwohner hat Warschau?") == terms("Wie viele Einwohner hat Warschau?", "de")
