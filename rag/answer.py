"""prompt -> LLM -> citations checked -> Answer. Streams as events; `ask()` is the stream, collected."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rag.citations import check, is_refusal
from rag.keyword import query_terms
from rag.llm import LLM, LLMError
from rag.prompts import Prompts
from rag.retrieve import Passage, Retriever

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    role: str  # "user" | "assistant"
    content: str


@dataclass
class Answer:
    question: str
    answer: str
    citations: list[tuple[int, Passage]]  # (number as written in the answer, passage)
    refused: bool
    model: str
    retrieval_ms: float
    generation_ms: float
    passages: list[Passage] = field(default_factory=list)  # everything retrieved, cited or not
    standalone_question: str | None = None
    removed_citations: dict[str, list[int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "citations": [citation_dict(n, p) for n, p in self.citations],
            "refused": self.refused,
            "model": self.model,
            "retrieval_ms": round(self.retrieval_ms, 1),
            "generation_ms": round(self.generation_ms, 1),
            "question": self.question,
            "standalone_question": self.standalone_question,
            "removed_citations": self.removed_citations,
            "passages": [citation_dict(i, p) for i, p in enumerate(self.passages, 1)],
        }


def citation_dict(n: int, p: Passage) -> dict[str, Any]:
    return {
        "id": n,
        "source": p.source,
        "name": p.name,
        "title": p.title,
        "chunk_id": p.chunk_id,
        "start": p.start,
        "end": p.end,
        "line": p.line,
        "page": p.page,
        "text": p.text,
        "score": p.score,
    }


# Stream events -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sources:
    passages: list[Passage]
    standalone_question: str
    retrieval_ms: float


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Done:
    answer: Answer


Event = Sources | Token | Done


class AnswerFailed(Exception):
    """The LLM failed; the retrieved passages are still worth showing."""

    def __init__(self, error: LLMError, passages: list[Passage], retrieval_ms: float) -> None:
        super().__init__(str(error))
        self.error = error
        self.passages = passages
        self.retrieval_ms = retrieval_ms


class Answerer:
    def __init__(self, retriever: Retriever, llm: LLM, prompts: Prompts) -> None:
        self.retriever = retriever
        self.llm = llm
        self.prompts = prompts

    def ask(self, question: str, history: list[Message] | None = None, top_k: int | None = None) -> Answer:
        for event in self.stream(question, history, top_k):
            if isinstance(event, Done):
                return event.answer
        raise AssertionError("stream ended without an answer")

    def stream(self, question: str, history: list[Message] | None = None, top_k: int | None = None) -> Iterator[Event]:
        """Sources first, then tokens as the model writes, then Done. Raises AnswerFailed mid-way."""
        question = question.strip()
        t0 = time.perf_counter()
        standalone = self.standalone(question, history or [])
        passages = self.retriever.search(standalone, top_k)
        retrieval_ms = (time.perf_counter() - t0) * 1000
        yield Sources(passages, standalone, retrieval_ms)
        t1 = time.perf_counter()
        if not passages:
            yield Token(self.prompts.no_passages)
            yield Done(
                Answer(question, self.prompts.no_passages, [], True, self.llm.model, retrieval_ms, 0.0, [], standalone)
            )
            return
        pieces: list[str] = []
        try:
            for piece in self.llm.stream(self.messages(standalone, passages)):
                pieces.append(piece)
                yield Token(piece)
        except LLMError as e:
            raise AnswerFailed(e, passages, retrieval_ms) from e
        generation_ms = (time.perf_counter() - t1) * 1000
        yield Done(self.finish(question, standalone, "".join(pieces), passages, retrieval_ms, generation_ms))

    def finish(
        self, question: str, standalone: str, raw: str, passages: list[Passage], retrieval_ms: float, gen_ms: float
    ) -> Answer:
        if is_refusal(raw, self.prompts.refusal):
            return Answer(
                question, self.prompts.refusal, [], True, self.llm.model, retrieval_ms, gen_ms, passages, standalone
            )
        checked = check(raw, [p.text for p in passages])
        removed = {"invented": checked.invented, "unsupported": checked.unsupported, "added": checked.added}
        if checked.invented or checked.unsupported:
            log.info("citations removed: invented %s, unsupported %s", checked.invented, checked.unsupported)
        withheld = not checked.cited
        if withheld:
            # Nothing in the answer is backed by a passage: an answer we cannot check is not given.
            log.info("answer withheld, no sentence is supported by a passage: %r", raw[:200])
        return Answer(
            question,
            self.prompts.refusal if withheld else checked.text,
            [(n, passages[n - 1]) for n in checked.cited],
            withheld,
            self.llm.model,
            retrieval_ms,
            gen_ms,
            passages,
            standalone,
            {k: v for k, v in removed.items() if v},
        )

    def messages(self, question: str, passages: list[Passage]) -> list[dict[str, str]]:
        blocks = "\n\n".join(
            self.prompts.passage.format(n=i, title=p.title or p.name, name=p.name, text=p.text)
            for i, p in enumerate(passages, 1)
        )
        refusal = self.prompts.refusal
        return [
            {"role": "system", "content": self.prompts.answer_system.format(refusal=refusal)},
            {
                "role": "user",
                "content": self.prompts.answer_user.format(passages=blocks, question=question, refusal=refusal),
            },
        ]

    def standalone(self, question: str, history: list[Message]) -> str:
        """The question rewritten to stand alone, using the conversation; as is without history."""
        if not history:
            return question
        convo = "\n".join(f"{m.role}: {m.content.strip()}" for m in history[-6:])
        try:
            rewritten = self.llm.chat(
                [{"role": "user", "content": self.prompts.condense.format(history=convo, question=question)}],
                max_tokens=80,
            )
        except LLMError as e:
            log.warning("could not rewrite the follow-up question, using it as is: %s", e)
            return question
        rewritten = rewritten.strip().splitlines()[0].strip().strip('"') if rewritten.strip() else ""
        if not rewritten:
            return question
        # Small models often repeat the earlier question and drop what the follow-up adds ("and what
        # about oil?" -> the gas question). A rewrite must keep the follow-up's own words; else add them.
        missing = set(query_terms(question)) - set(query_terms(rewritten))
        return f"{rewritten} {question}" if missing else rewritten
