"""The answer step, orchestrated: retrieve -> prompt -> LLM (evidence first) -> quote located -> support checked
-> Answer. Streams as events; `ask()` is the stream, collected.

The model is asked for the sentence it relies on, copied, and then its answer (rag/answering/reply.py). Code finds
the quote in the passages (rag/answering/quotes.py) and checks that it supports the answer
(rag/answering/verify.py); only then is the answer shown, cited to the passage the quote is in, with the quote's
span. A reply in no such shape (a server that ignores the schema) is checked sentence by sentence instead
(rag/answering/plain.py).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import re
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from rag.access import Reader
from rag.answering import reply, sentences
from rag.answering import verify as support
from rag.answering.claims import ClaimOptions, check_claim
from rag.answering.plain import check, is_refusal
from rag.answering.prompts import Prompts
from rag.answering.verdict import ClaimCheck, Withheld
from rag.index.terms import query_terms
from rag.llm.client import LLM, LLMError, Usage
from rag.retrieval.retriever import Passage, Retriever

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
    # Passage number -> the span, in its document, of the sentence(s) the model quoted as evidence.
    quotes: dict[int, tuple[int, int]] = field(default_factory=dict)
    # How the answer was checked (the quote's match, each support check), or why it was withheld.
    checks: dict[str, Any] = field(default_factory=dict)
    # The claims shown, each with its own citations and evidence spans (ids mode; one claim otherwise).
    claims: list[ShownClaim] = field(default_factory=list)
    # Tokens of every LLM call made for this answer, as the server reported them.
    usage: Usage = field(default_factory=Usage)

    def to_dict(self) -> dict[str, Any]:
        return {
            "claims": [c.to_dict(self.passages) for c in self.claims],
            "answer": self.answer,
            "citations": [citation_dict(n, p, self.quotes.get(n)) for n, p in self.citations],
            "refused": self.refused,
            "model": self.model,
            "retrieval_ms": round(self.retrieval_ms, 1),
            "generation_ms": round(self.generation_ms, 1),
            "question": self.question,
            "standalone_question": self.standalone_question,
            "removed_citations": self.removed_citations,
            "checks": self.checks,
            "passages": [citation_dict(i, p) for i, p in enumerate(self.passages, 1)],
        }


def citation_dict(n: int, p: Passage, quote: tuple[int, int] | None = None) -> dict[str, Any]:
    """A passage as the API shows it; `quote` is the supporting sentence's span in the document, if located."""
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
        "page_label": p.page_label,
        "text": p.text,
        "score": p.score,
        "quote": None
        if quote is None
        else {"start": quote[0], "end": quote[1], "text": p.text[quote[0] - p.start : quote[1] - p.start]},
    }


@dataclass(frozen=True)
class ShownClaim:
    """One statement of a shown answer: its text, the passages it cites and the spans (document offsets) of
    the sentences that state it, each paired with its passage number."""

    text: str
    citations: list[int]
    spans: list[tuple[int, int, int]]  # (passage number, start, end)

    def to_dict(self, passages: list[Passage]) -> dict[str, Any]:
        def quote(n: int, start: int, end: int) -> dict[str, Any]:
            p = passages[n - 1]
            return {"passage": n, "start": start, "end": end, "text": p.text[start - p.start : end - p.start]}

        return {"text": self.text, "citations": self.citations, "quotes": [quote(*s) for s in self.spans]}


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


@dataclass(frozen=True)
class AnswerOptions:
    """How the answer step runs; from Settings, each measured (README, answer quality)."""

    schema: bool = True  # ask the server to hold the reply to the quote/answer JSON schema
    entailment: bool = True  # ask the model whether the quote states the answer
    names: bool = True  # the question's names must be in the cited passage or its title
    min_lexical: float = 0.5  # share of the answer's new words that must be in the quoted passage
    retry_refusals: bool = True  # a second pass, without the way out, when the model refuses
    evidence: str = "ids"  # ids: the model names numbered sentences | quote: it copies one (the earlier step)
    sentences: int = 10  # sentences shown to the model in ids mode (0: every sentence of the passages)
    max_claims: int = 4
    claim: ClaimOptions = field(default_factory=ClaimOptions)


class Answerer:
    instructions = ""  # set on the per-answer copy that stream() makes

    def __init__(self, retriever: Retriever, llm: LLM, prompts: Prompts, options: AnswerOptions | None = None) -> None:
        self.retriever = retriever
        self.llm = llm
        self.prompts = prompts
        self.options = options or AnswerOptions()

    def ask(
        self,
        question: str,
        history: list[Message] | None = None,
        top_k: int | None = None,
        reader: Reader | None = None,
    ) -> Answer:
        for event in self.stream(question, history, top_k, reader=reader):
            if isinstance(event, Done):
                return event.answer
        raise AssertionError("stream ended without an answer")

    def stream(
        self,
        question: str,
        history: list[Message] | None = None,
        top_k: int | None = None,
        instructions: str = "",
        reader: Reader | None = None,
    ) -> Iterator[Event]:
        """Sources first, then the answer's text as the model writes it, then Done. Raises AnswerFailed mid-way.
        `instructions`: the asker's own words on style and language (an OpenAI client's system message).
        `reader`: whose documents the passages may come from (None: every document, as `rag eval` asks)."""
        # Each answer meters its own LLM calls (rewrite, reply, support check): a copy of this answerer whose
        # LLM view adds up the tokens the server reports, handed over on the Answer.
        metered = copy.copy(self)
        metered.llm = self.llm.metered()
        metered.instructions = instructions.strip()
        with contextlib.closing(metered._stream(question, history, top_k, reader)) as events:
            for event in events:
                if isinstance(event, Done) and metered.llm.usage is not None:
                    event.answer.usage = metered.llm.usage
                yield event

    def _stream(
        self, question: str, history: list[Message] | None, top_k: int | None, reader: Reader | None = None
    ) -> Generator[Event, None, None]:
        question = question.strip()
        t0 = time.perf_counter()
        # The rewrite reads only this caller's own conversation; it searches nothing.
        standalone = self.standalone(question, history or [])
        passages = self.retriever.search(standalone, top_k, reader=reader)
        retrieval_ms = (time.perf_counter() - t0) * 1000
        yield Sources(passages, standalone, retrieval_ms)
        t1 = time.perf_counter()
        if not passages:
            yield Token(self.prompts.no_passages)
            yield Done(
                Answer(question, self.prompts.no_passages, [], True, self.llm.model, retrieval_ms, 0.0, [], standalone)
            )
            return
        try:
            if self.options.evidence == "ids":
                answer = yield from self._answer_by_ids(question, standalone, passages, retrieval_ms, t1)
                yield Done(answer)
                return
            raw, streamed = yield from self._write(self.messages(standalone, passages), show=True)
            first = reply.parse(raw)
            retried = first.structured and self._refused(first) and self.options.retry_refusals
            if retried:
                # Asked again without the way out; its words are shown only if the refusal showed none.
                raw, _ = yield from self._write(self.messages(standalone, passages, retry=True), show=not streamed)
            answer = self.finish(question, standalone, raw, passages, retrieval_ms, t1, retried)
        except LLMError as e:
            raise AnswerFailed(e, passages, retrieval_ms) from e
        yield Done(answer)

    def _write(
        self, messages: list[dict[str, str]], show: bool, response_format: dict[str, Any] | None = None
    ) -> Generator[Token, None, tuple[str, bool]]:
        """Stream one reply: Token events for the words of its answer part; returns (raw reply, any shown)."""
        pieces: list[str] = []
        shown, any_shown = reply.AnswerStream(), False
        if response_format is None and self.options.schema:
            response_format = reply.RESPONSE_FORMAT
        for piece in self.llm.stream(messages, response_format if self.options.schema else None):
            pieces.append(piece)
            text = shown.feed(piece)
            if text and show:
                any_shown = True
                yield Token(text)
        return "".join(pieces), any_shown

    def finish(
        self,
        question: str,
        standalone: str,
        raw: str,
        passages: list[Passage],
        retrieval_ms: float,
        t1: float,
        retried: bool = False,
    ) -> Answer:
        parsed = reply.parse(raw)
        if not parsed.structured:
            return self._checked_sentences(question, standalone, raw, passages, retrieval_ms, t1)
        checks: dict[str, Any] = {"first_reply": "refused"} if retried else {}
        if self._refused(parsed):
            return self._refusal(question, standalone, passages, retrieval_ms, t1, {**checks, "reply": "refused"})
        o = self.options
        verdict = support.check_reply(
            standalone,
            parsed.answer,
            parsed.quote or "",
            passages,
            self.llm if o.entailment else None,
            self.prompts.verify,
            o.names,
            o.min_lexical,
            self.prompts.verify_yes_no,
            o.claim.realign,
        )
        checks.update({k: v for k, v in verdict.items() if k not in ("start", "end")})
        checks["draft"] = parsed.answer  # what the model answered, shown only if the checks pass
        if "withheld" in verdict:
            log.info("answer withheld (%s): %r", verdict["withheld"], parsed.answer[:200])
            return self._refusal(question, standalone, passages, retrieval_ms, t1, checks)
        n = int(verdict["passage"])
        p = passages[n - 1]
        # The marker goes after the text as written, so what was streamed is a prefix of the final answer and
        # a client that cannot take words back (OpenAI-style streams) only has to add it.
        sentence = p.text[int(verdict["start"]) : int(verdict["end"])].strip()
        text, checks["answer"] = compose(standalone, parsed.answer, sentence, verdict.get("polarity"))
        text += f" [{n}]"
        span = (p.start + int(verdict["start"]), p.start + int(verdict["end"]))
        return Answer(
            question,
            text,
            [(n, p)],
            False,
            self.llm.model,
            retrieval_ms,
            _ms_since(t1),
            passages,
            standalone,
            {},
            {n: span},
            checks,
        )

    def _answer_by_ids(
        self, question: str, standalone: str, passages: list[Passage], retrieval_ms: float, t1: float
    ) -> Generator[Token, None, Answer]:
        """Evidence by sentence ids: the model sees numbered sentences and names the ones it relies on."""
        o = self.options
        every = sentences.split(passages)
        shown = sentences.focus(standalone, every, o.sentences)
        fmt = reply.claims_format([s.id for s in shown], o.max_claims)
        raw, streamed = yield from self._write(self._ids_messages(standalone, passages, shown), True, fmt)
        claims = reply.parse_claims(raw)
        checks: dict[str, Any] = {"reply": "claims", "sentences_shown": len(shown), "sentences": len(every)}
        if claims is not None and not claims and o.retry_refusals:
            checks["first_reply"] = "refused"
            retry = self._ids_messages(standalone, passages, shown, retry=True)
            raw, _ = yield from self._write(retry, not streamed, fmt)
            claims = reply.parse_claims(raw)
        if claims is None:  # not in the shape (a server without schemas): checked sentence by sentence
            raw, unknown = _passage_markers(raw, every)
            plain = self._checked_sentences(question, standalone, raw, passages, retrieval_ms, t1)
            if plain.removed_citations.get("invented"):
                plain.removed_citations["invented"] = unknown  # as the model wrote them
            return plain
        if not claims:
            return self._refusal(question, standalone, passages, retrieval_ms, t1, {**checks, "reply": "refused"})
        checks["draft"] = " ".join(c.text for c in claims)
        yes_no = support.is_yes_no(standalone)
        results = [
            check_claim(standalone, c, every, passages, self._judge, o.claim)
            for c in (claims[:1] if yes_no else claims[: o.max_claims])
        ]
        if yes_no:
            self._settle_yes_no(standalone, results[0], every, checks)
        checks["claims"] = [r.to_dict() for r in results]
        kept = [r for r in results if r.text is not None]
        if not kept:
            checks["withheld"] = str(results[0].withheld)
            log.info("answer withheld (%s): %r", checks["withheld"], checks["draft"][:200])
            return self._refusal(question, standalone, passages, retrieval_ms, t1, checks)
        return self._claims_answer(question, standalone, kept, every, passages, retrieval_ms, t1, checks)

    def _claims_answer(
        self,
        question: str,
        standalone: str,
        kept: list[ClaimCheck],
        every: list[sentences.Sentence],
        passages: list[Passage],
        retrieval_ms: float,
        t1: float,
        checks: dict[str, Any],
    ) -> Answer:
        by_id = {s.id: s for s in every}
        parts: list[str] = []
        cited: list[int] = []
        shown_claims: list[ShownClaim] = []
        quotes: dict[int, tuple[int, int]] = {}
        for r in kept:
            numbers = list(dict.fromkeys(by_id[i].passage + 1 for i in r.evidence))
            text = str(r.text) if re.search(r"[.!?…)\"'”’]$", str(r.text)) else f"{r.text}."
            parts.append(f"{text} " + "".join(f"[{n}]" for n in numbers))
            spans = [(by_id[i].passage + 1, *span) for i, span in zip(r.evidence, r.spans, strict=True)]
            for n, start, end in spans:
                quotes.setdefault(n, (start, end))
            cited.extend(n for n in numbers if n not in cited)
            shown_claims.append(ShownClaim(text, numbers, spans))
        if len(kept) < len(checks["claims"]):
            checks["dropped_claims"] = len(checks["claims"]) - len(kept)
        return Answer(
            question=question,
            answer=" ".join(parts),
            citations=[(n, passages[n - 1]) for n in cited],
            refused=False,
            model=self.llm.model,
            retrieval_ms=retrieval_ms,
            generation_ms=_ms_since(t1),
            passages=passages,
            standalone_question=standalone,
            quotes=quotes,
            checks=checks,
            claims=shown_claims,
        )

    def _settle_yes_no(
        self, question: str, r: ClaimCheck, every: list[sentences.Sentence], checks: dict[str, Any]
    ) -> None:
        """A yes/no opens with the yes or no its evidence sentence gives alone (the answering model, reading many
        sentences, leans to yes); an answer that says the other word does not stand."""
        if r.text is None or not r.evidence:
            return
        sentence = next(s.text for s in every if s.id == r.evidence[0])
        p = self._ask_yes(self.prompts.verify_yes_no.format(evidence=support.fence(sentence), question=question))
        polarity = None if p is None else "yes" if p >= 0.5 else "no"
        checks["polarity"] = polarity
        said = support.leading_yes_no(r.text)
        if said and polarity and said != polarity:
            r.text = None
            r.fail(Withheld.YES_NO_UNSETTLED)
            return
        r.text, r.made = compose(question, r.text, sentence.strip(), polarity)

    def _judge(self, evidence: str, question: str, claim: str) -> float | None:
        return self._ask_yes(
            self.prompts.verify.format(evidence=support.fence(evidence), question=question, answer=claim)
        )

    def _ask_yes(self, prompt: str) -> float | None:
        try:
            return self.llm.yes_probability([{"role": "user", "content": prompt}])
        except LLMError as e:
            # No verdict is not support: the caller withholds (fails closed).
            log.warning("support check could not ask the LLM: %s", e)
            return None

    def _ids_messages(
        self, question: str, passages: list[Passage], shown: list[sentences.Sentence], retry: bool = False
    ) -> list[dict[str, str]]:
        blocks = sentences.render(shown, passages, self.prompts.passage_sentences)
        template = self.prompts.answer_ids_retry if retry else self.prompts.answer_ids
        return [
            {"role": "system", "content": self.prompts.answer_system.format(refusal=self.prompts.refusal)},
            {"role": "user", "content": self._with_instructions(template.format(passages=blocks, question=question))},
        ]

    def _refused(self, parsed: reply.Reply) -> bool:
        return not parsed.answer or not parsed.quote or is_refusal(parsed.answer, self.prompts.refusal)

    def _refusal(
        self,
        question: str,
        standalone: str,
        passages: list[Passage],
        retrieval_ms: float,
        t1: float,
        checks: dict[str, Any],
    ) -> Answer:
        return Answer(
            question,
            self.prompts.refusal,
            [],
            True,
            self.llm.model,
            retrieval_ms,
            _ms_since(t1),
            passages,
            standalone,
            {},
            {},
            checks,
        )

    def _checked_sentences(
        self, question: str, standalone: str, raw: str, passages: list[Passage], retrieval_ms: float, t1: float
    ) -> Answer:
        """A plain reply: each sentence must be supported by the passage it cites, or it is removed."""
        gen_ms = _ms_since(t1)
        if is_refusal(raw, self.prompts.refusal):
            return self._refusal(question, standalone, passages, retrieval_ms, t1, {"reply": "refused"})
        checked = check(raw, [p.text for p in passages])
        removed = {"invented": checked.invented, "unsupported": checked.unsupported, "added": checked.added}
        if checked.invented or checked.unsupported:
            log.info("citations removed: invented %s, unsupported %s", checked.invented, checked.unsupported)
        withheld = not checked.cited
        if withheld:
            # Nothing in the answer is backed by a passage: an answer we cannot check is not given.
            log.info("answer withheld, no sentence is supported by a passage: %r", raw[:200])
        checks: dict[str, Any] = {"reply": "plain"}
        if checked.dropped:
            checks["dropped_sentences"] = checked.dropped
        if withheld:
            checks["withheld"] = "no_supported_sentence"
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
            {},
            checks,
        )

    def messages(self, question: str, passages: list[Passage], retry: bool = False) -> list[dict[str, str]]:
        blocks = "\n\n".join(
            self.prompts.passage.format(
                n=i, title=support.fence(p.title or p.name).replace('"', "'"), name=p.name, text=support.fence(p.text)
            )
            for i, p in enumerate(passages, 1)
        )
        template = self.prompts.answer_retry if retry else self.prompts.answer_user
        content = self._with_instructions(
            template.format(passages=blocks, question=question, refusal=self.prompts.refusal)
        )
        return [
            {"role": "system", "content": self.prompts.answer_system.format(refusal=self.prompts.refusal)},
            {"role": "user", "content": content},
        ]

    def _with_instructions(self, content: str) -> str:
        if not self.instructions:
            return content
        # Before the passages, fenced: the rules and the reply's shape, which come after, have the last word.
        fenced = re.sub(r"<\s*/?\s*asker_instructions\b", "‹asker_instructions", self.instructions, flags=re.I)
        return self.prompts.instructions.format(instructions=fenced) + "\n\n" + content

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


def compose(question: str, answer: str, sentence: str, polarity: str | None) -> tuple[str, str]:
    """The answer as shown, and how it was made ("model", "quote" or "polarity+quote").

    A yes/no question opens with the yes or no the quoted sentence gave (`polarity`), followed by the
    model's words when they agree and say something, else by the sentence itself. Any other question drops
    a stray leading "Yes,", and an answer with nothing left ("Yes.") is replaced by the sentence."""
    text = support.MARKER.sub("", answer).strip()
    lead = support.LEADING_YES_NO.match(text)
    said = lead.group(1).lower() if lead else None
    rest = text[lead.end() :].strip() if lead else text
    has_content = bool(support.stems(rest) - support.YES_NO)
    if support.is_yes_no(question):
        word = polarity or said
        if word is None:
            return text, "model"
        if said == word and has_content:
            return f"{word.capitalize()}, {rest[:1].lower() + rest[1:]}", "model"
        return f"{word.capitalize()}. {sentence}", "polarity+quote"
    if not has_content:
        return sentence, "quote"
    return (rest[:1].upper() + rest[1:], "model") if lead else (text, "model")


def _passage_markers(text: str, every: list[sentences.Sentence]) -> tuple[str, list[int]]:
    """A plain reply's `[k]` markers name sentences: cite their passages instead. An unknown id becomes [0],
    which no passage has, so the check drops it; the unknown ids are returned as written."""
    passage_of = {s.id: s.passage + 1 for s in every}
    unknown: list[int] = []

    def swap(m: re.Match[str]) -> str:
        ids = [int(i) for i in re.findall(r"\d+", m.group(1))]
        unknown.extend(i for i in ids if i not in passage_of)
        return m.group(0)[: m.start(1) - m.start(0)] + ", ".join(str(passage_of.get(i, 0)) for i in ids) + "]"

    return support.MARKER.sub(swap, text), unknown


def _ms_since(t: float) -> float:
    return (time.perf_counter() - t) * 1000
