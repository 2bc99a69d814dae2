"""The non-answer in every language: the sentence shown, in the question's language, and the phrases by which
a model's own words are recognised as one. Read from prompts/refusals.json (English stays in refusal.txt
and no_passages.txt, which a team may already have reworded)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from rag.answering.language import no_spaces

_SHORT_WORDS = 30  # a refusal is short; a long answer that mentions "not mentioned" is an answer
_SHORT_CHARS = 80  # the same, where words are not spaced


@dataclass(frozen=True)
class Refusals:
    refusal: dict[str, str] = field(default_factory=dict)  # language -> sentence
    no_passages: dict[str, str] = field(default_factory=dict)
    phrases: tuple[str, ...] = ()  # lower-case, every language's

    @classmethod
    def load(cls, path: Path) -> Refusals:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON ({e}); fix it or restore it from the release") from None
        langs = {k: v for k, v in data.items() if not k.startswith("_") and isinstance(v, dict)}
        return cls(
            {k: v["refusal"] for k, v in langs.items() if v.get("refusal")},
            {k: v["no_passages"] for k, v in langs.items() if v.get("no_passages")},
            tuple(p.casefold() for v in langs.values() for p in v.get("phrases", []) if p.strip()),
        )

    def recognises(self, text: str) -> bool:
        """A short reply holding one of the languages' refusal phrases, or one of their refusal sentences."""
        folded = text.casefold().strip()
        if not folded:
            return False
        if any(s.casefold().rstrip(".。।") in folded for s in self.refusal.values()):
            return True
        short = len(folded) <= _SHORT_CHARS if no_spaces(folded) else len(folded.split()) <= _SHORT_WORDS
        return short and any(p in folded for p in self.phrases)
