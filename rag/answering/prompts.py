"""Prompt templates, read from files in prompts/ once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from rag.answering.refusals import Refusals

# A checkout (or an editable install made before prompts/ became package data) has them beside the packages.
_CHECKOUT_DIR = Path(__file__).resolve().parents[2] / "prompts"


def default_dir() -> Path:
    """The installed templates (prompts/ ships as the package `rag.templates`), else the checkout's prompts/."""
    try:
        found = resources.files("rag.templates")
    except ModuleNotFoundError:
        return _CHECKOUT_DIR
    # Wheels install unzipped, so this is a real folder on disk.
    return Path(str(found))


DEFAULT_DIR = default_dir()


@dataclass(frozen=True)
class Prompts:
    answer_system: str
    answer_user: str
    passage: str
    refusal: str
    no_passages: str
    condense: str
    answer_retry: str  # the second pass after a refusal: no way out offered
    verify: str  # the entailment question (rag/answering/verify.py)
    verify_yes_no: str  # a yes/no question asked of the quoted sentence alone (rag/answering/verify.py)
    answer_ids: str  # evidence by sentence ids (RAG_ANSWER_EVIDENCE=ids)
    answer_ids_retry: str
    passage_sentences: str  # a passage block whose text is numbered sentences
    naive: str  # the baseline's prompt (rag/eval/naive.py), kept beside ours to compare like with like
    instructions: str = "{instructions}"  # a client's own system message, on style and language, fenced
    answer_language: str = ""  # added to the answer prompt when the question is not in English
    refusals: Refusals = field(default_factory=Refusals)  # the non-answer in other languages

    def refusal_in(self, lang: str) -> str:
        """The non-answer sentence in `lang` (refusal.txt for English and any language without one)."""
        return self.refusal if lang == "en" else self.refusals.refusal.get(lang, self.refusal)

    def no_passages_in(self, lang: str) -> str:
        return self.no_passages if lang == "en" else self.refusals.no_passages.get(lang, self.no_passages)

    @classmethod
    def load(cls, directory: Path = DEFAULT_DIR) -> Prompts:
        def read(name: str) -> str:
            path = directory / name
            if not path.exists():
                raise FileNotFoundError(f"prompt template {path} is missing (RAG_PROMPTS_DIR points at {directory})")
            return path.read_text(encoding="utf-8").strip()

        return cls(
            answer_system=read("answer_system.md"),
            answer_user=read("answer_user.md"),
            passage=read("passage.md"),
            refusal=read("refusal.txt"),
            no_passages=read("no_passages.txt"),
            condense=read("condense.md"),
            answer_retry=read("answer_retry.md"),
            verify=read("verify.md"),
            verify_yes_no=read("verify_yes_no.md"),
            answer_ids=read("answer_ids.md"),
            answer_ids_retry=read("answer_ids_retry.md"),
            passage_sentences=read("passage_sentences.md"),
            naive=read("naive.md"),
            instructions=read("instructions.md"),
            # Optional: a prompts folder copied from a release before them still works (questions in other
            # languages then get the English prompt and non-answer).
            answer_language=read("answer_language.md") if (directory / "answer_language.md").exists() else "",
            refusals=Refusals.load(refusals) if (refusals := directory / "refusals.json").exists() else Refusals(),
        )
