"""The support checks: lexical, the question's names, and entailment by an LLM (a fake one over real HTTP)."""

from __future__ import annotations

from rag.answering.prompts import Prompts
from rag.answering.verify import about_something_else, entails, is_yes_no, lexical, missing_names, names, yes_or_no
from rag.config import Settings
from rag.llm.client import make_llm
from tests.fakes.openai_server import FakeOpenAI


def test_lexical_asks_only_the_answers_new_words_of_the_evidence() -> None:
    q = "Apart from gas, which Azerbaijani resource is Serbia interested in importing?"
    evidence = "Serbia is interested in importing Azerbaijani oil."
    assert lexical("Serbia is interested in importing Azerbaijani oil.", evidence, given=q) == 1.0
    assert lexical("Serbia wants to import coal.", evidence, given=q) == 0.0  # "want", "coal": neither there
    assert lexical("Yes.", evidence, given=q) == 1.0  # nothing new claimed


def test_names_are_what_the_question_is_about() -> None:
    assert names("When did Gerald Ford become president in 1974?") == {"gerald", "ford"}
    assert names("What is named after him?") == set()


def test_an_answer_about_someone_else_misses_the_questions_names() -> None:
    nixon = "Nixon was born on January 9, 1913, in Yorba Linda."
    assert missing_names("When was Gerald Ford born?", nixon, "Richard Nixon") == {"gerald", "ford"}
    assert missing_names("When was Nixon born?", "He was born on January 9, 1913.", "Richard Nixon") == set()
    assert about_something_else("When was Gerald Ford born?", nixon, "Richard Nixon") == {"gerald", "ford"}
    # One of three names missing is not another subject: the passage may just not repeat the country.
    celsius = "Celsius was born in Uppsala."
    assert about_something_else("Was Celsius born in Uppsala in Sweden?", celsius, "Anders Celsius") == set()


def test_entailment_asks_the_llm_and_reads_yes_or_no(fake_llm: FakeOpenAI) -> None:
    llm = make_llm(Settings(_env_file=None, llm_base_url=fake_llm.base_url, llm_api_key="k", llm_retries=0))  # type: ignore[call-arg, arg-type]
    template = Prompts.load().verify
    fake_llm.reply = "No."
    assert (
        entails(llm, template, "The xylophone came first.", "Which came first?", "The vibraphone came first") is False
    )
    sent = fake_llm.requests[-1]["messages"][-1]["content"]
    assert "The xylophone came first." in sent and "The vibraphone came first" in sent
    fake_llm.reply = "yes"
    assert entails(llm, template, "The xylophone came first.", "Which came first?", "The xylophone [1]") is True
    fake_llm.reply = "It depends."
    assert entails(llm, template, "e", "q", "a") is None
    fake_llm.status = 500
    assert entails(llm, template, "e", "q", "a") is None  # a failing check never breaks the answer


def test_yes_no_questions_and_the_sentences_own_answer(fake_llm: FakeOpenAI) -> None:
    assert is_yes_no("Was Tesla born in the United States?") and is_yes_no("Does Romania border Ukraine?")
    assert not is_yes_no("Why does Jakarta flood?") and not is_yes_no("Who was Grant's brother in law?")
    llm = make_llm(Settings(_env_file=None, llm_base_url=fake_llm.base_url, llm_api_key="k", llm_retries=0))  # type: ignore[call-arg, arg-type]
    fake_llm.reply = "No."
    template = Prompts.load().verify_yes_no
    assert yes_or_no(llm, template, "Tesla was born in Smiljan.", "Was Tesla born in the US?") == "no"
    sent = fake_llm.requests[-1]["messages"][-1]["content"]
    assert "Tesla was born in Smiljan." in sent and "Was Tesla born in the US?" in sent
