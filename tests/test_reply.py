"""Parsing the model's reply, and streaming only the answer part of it."""

from __future__ import annotations

import json

from rag.answering.reply import AnswerStream, parse


def test_json_reply() -> None:
    r = parse('{"quote": "Serbia is interested in oil.", "answer": "Oil."}')
    assert (r.quote, r.answer, r.structured) == ("Serbia is interested in oil.", "Oil.", True)


def test_text_fields_and_code_fences() -> None:
    r = parse('Quote: "Serbia is interested in oil."\nAnswer: Oil [1].')
    assert (r.quote, r.answer) == ("Serbia is interested in oil.", "Oil [1].")
    r = parse('```json\n{"quote": "q q q", "answer": "a"}\n```')
    assert (r.quote, r.answer) == ("q q q", "a")


def test_plain_reply_is_kept_for_the_sentence_check() -> None:
    r = parse("Serbia wants gas [1].")
    assert (r.quote, r.answer, r.structured) == (None, "Serbia wants gas [1].", False)


def test_a_reply_cut_off_mid_json_is_salvaged() -> None:
    r = parse('{"quote": "Serbia is interested in oil.", "answer": "Serbia would import o')
    assert r.structured and r.quote == "Serbia is interested in oil." and r.answer == "Serbia would import o"


def _streamed(raw: str, step: int) -> str:
    s = AnswerStream()
    return "".join(s.feed(raw[i : i + step]) for i in range(0, len(raw), step))


def test_stream_shows_only_the_answer_never_json_or_the_quote() -> None:
    raw = json.dumps({"quote": 'He said "no" \\ twice.', "answer": 'Oil and é gas, "quoted".'})
    for step in (1, 2, 3, 7, len(raw)):
        assert _streamed(raw, step) == 'Oil and é gas, "quoted".'
    assert _streamed("Quote: abc def\nAnswer: Oil it is.", 4) == "Oil it is."
    assert _streamed("Serbia wants gas [1].", 4) == "Serbia wants gas [1]."
