"""The answer service: the one life of a question, whichever surface asked it (HTTP, OpenAI-compatible, Slack
over HTTP or Socket Mode, the `rag` command).

limits (question length, history caps) -> a generation slot (the gate) -> the answer step, in a worker
thread -> metrics -> remembered for votes -> slot given back; stopped early when the asker goes away.
Surfaces only translate: a request into `ask`/`open`, and the events or the answer into their own format.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import anyio
import anyio.to_thread

from rag.access import Reader
from rag.answering.answerer import Answer, Answerer, AnswerFailed, Done, Event, Message, Sources, Token, citation_dict
from rag.answering.history import cap_history
from rag.config import Settings
from rag.index.feedback import Feedback
from rag.index.storage import make_feedback
from rag.llm.client import LLMError

log = logging.getLogger(__name__)
T = TypeVar("T")


class Busy(Exception):
    """No generation slot: every slot is taken and the queue is full, or the wait passed RAG_QUEUE_TIMEOUT."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Rejected(Exception):
    """A question the limits refuse: `too_large` (RAG_MAX_QUESTION_CHARS / RAG_MAX_MESSAGE_CHARS) or `empty`."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Abandoned(Exception):
    """The asker went away before the answer was ready; the answer was stopped, not finished for nobody."""


# The gate -----------------------------------------------------------------------------------------------------
class Ticket:
    """A place at the gate: a slot at once, or a place in its queue until a slot is handed over."""

    def __init__(self, gate: GenerationGate) -> None:
        self.gate = gate
        self.granted = threading.Event()
        self.started = 0.0
        self.released = False
        self._wake: Callable[[], None] | None = None  # an async waiter's way to be woken from another thread

    def wait(self) -> None:
        """Block this thread until the slot is ours; Busy after RAG_QUEUE_TIMEOUT."""
        if not self.granted.wait(self.gate.timeout):
            self.gate.give_up(self)

    async def wait_async(self) -> None:
        """Wait for the slot without holding a thread; Busy after RAG_QUEUE_TIMEOUT."""
        if self.granted.is_set():
            return
        # The slot is handed over by whichever thread releases one; the event loop is woken thread-safely.
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(woken.set)

        self._wake = wake
        if self.granted.is_set():  # handed over before `wake` was in place
            return
        try:
            with anyio.fail_after(self.gate.timeout):
                await woken.wait()
        except TimeoutError:
            self.gate.give_up(self)
        except BaseException:  # cancelled while queued: leave the queue, or hand on a slot just received
            self.release()
            raise

    def release(self) -> None:
        """Give the slot (or the place in the queue) back; safe to call more than once."""
        self.gate.release(self)


class GenerationGate:
    """At most `slots` answers written at once, `queue` more waiting in order, the rest refused at once (Busy).

    Thread-safe, so that threads (Slack's workers, the CLI) and the event loop (HTTP) share one bound; a queued
    HTTP request holds no thread. `Retry-After` is estimated from how long answers take."""

    def __init__(self, slots: int, queue: int, timeout: float) -> None:
        self.slots = slots
        self.queue = queue
        self.timeout = timeout
        self.active = 0
        self.seconds_per_answer = 5.0  # a moving average, refined by every answer
        self._waiting: deque[Ticket] = deque()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> GenerationGate:
        return cls(settings.generation_slots, settings.max_queued, settings.queue_timeout)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def retry_after(self) -> int:
        rounds = (self.waiting + self.active) / self.slots
        return max(1, math.ceil(rounds * self.seconds_per_answer))

    def _busy(self, why: str) -> Busy:
        wait = self.retry_after()
        return Busy(
            f"the server is busy: {why}; try again in {wait} s (limits: RAG_MAX_GENERATIONS={self.slots}, "
            f"RAG_MAX_QUEUED={self.queue})",
            wait,
        )

    def enter(self) -> Ticket:
        """A slot now, or a place in the queue (wait on the ticket); Busy at once when the queue is full."""
        ticket = Ticket(self)
        with self._lock:
            if self.active < self.slots and not self._waiting:
                self.active += 1
                ticket.started = time.monotonic()
                ticket.granted.set()
                return ticket
            if len(self._waiting) >= self.queue:
                raise self._busy(f"{self.active} answers are being written and {len(self._waiting)} are waiting")
            self._waiting.append(ticket)
        return ticket

    def give_up(self, ticket: Ticket) -> None:
        """A queued ticket that waited too long: leave the queue and raise Busy (unless the slot just came)."""
        with self._lock:
            if not ticket.granted.is_set():
                self._waiting.remove(ticket)
                ticket.released = True
                raise self._busy(f"no answer slot came free within {self.timeout:g} s (RAG_QUEUE_TIMEOUT)")

    def release(self, ticket: Ticket) -> None:
        wake = None
        with self._lock:
            if ticket.released:
                return
            ticket.released = True
            if not ticket.granted.is_set():  # still queued: just leave the queue
                self._waiting.remove(ticket)
                return
            self.seconds_per_answer = 0.8 * self.seconds_per_answer + 0.2 * (time.monotonic() - ticket.started)
            if self._waiting:  # hand the slot straight to the next in line
                nxt = self._waiting.popleft()
                nxt.started = time.monotonic()
                nxt.granted.set()
                wake = nxt._wake
            else:
                self.active -= 1
        if wake is not None:
            with contextlib.suppress(RuntimeError):  # its event loop has ended: nobody is waiting any more
                wake()


# The service --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Asker:
    """Who asked, and where, as remembered beside the answer for votes (`rag feedback`)."""

    surface: str  # api | page | openai | slack | cli
    who: str = "anonymous"
    place: str = ""
    remember: bool = True  # False where nobody can rate the answer (the `rag` command)
    # The asker's own words on style and language (an OpenAI client's system message), fenced in the prompt.
    instructions: str = ""
    # Whose documents the answer may draw on. Fails closed: a surface that forgets to say who is asking gets
    # the documents everyone may read, never all of them; the CLI says Reader.trusted(), the API its caller.
    reader: Reader = field(default_factory=Reader.public)


@dataclass(frozen=True)
class Finished:
    """The last event of a question: the checked answer and the id it is remembered under (None if not)."""

    answer: Answer
    answer_id: str | None


class Observer(Protocol):
    """What the service reports (api/metrics.py counts it for Prometheus)."""

    def answered(self, answer: Answer) -> None: ...

    def failed(self, error: LLMError, retrieval_ms: float | None = None) -> None: ...


class _NoObserver:
    def answered(self, answer: Answer) -> None:
        pass

    def failed(self, error: LLMError, retrieval_ms: float | None = None) -> None:
        pass


class AnswerService:
    """Ask and stream, with the generation gate, limits, metrics, feedback memory and cancellation inside."""

    def __init__(
        self,
        settings: Settings,
        answerer: Answerer,
        gate: GenerationGate | None = None,
        observer: Observer | None = None,
        feedback: Callable[[], Feedback] | None = None,
    ) -> None:
        self.settings = settings
        self.answerer = answerer
        self.gate = gate or GenerationGate.from_settings(settings)
        self.observer: Observer = observer or _NoObserver()
        self._make_feedback = feedback
        self._feedback: Feedback | None = None
        self._feedback_lock = threading.Lock()

    @property
    def feedback(self) -> Feedback:
        """The store of remembered answers and votes, opened (and its schema checked) on first use."""
        with self._feedback_lock:
            if self._feedback is None:
                make = self._make_feedback or (lambda: make_feedback(self.settings))
                self._feedback = make()
            return self._feedback

    def limits(self, question: str, history: Sequence[Message] = ()) -> list[Message]:
        """Enforce the question limits (Rejected); the history trimmed to what the server keeps."""
        s = self.settings
        if len(question) > s.max_question_chars:
            raise Rejected(
                "too_large",
                f"question is {len(question)} characters; the limit is {s.max_question_chars} (RAG_MAX_QUESTION_CHARS)",
            )
        if not question.strip():
            raise Rejected("empty", "question is empty: send the text to answer")
        for i, m in enumerate(history):
            if len(m.content) > s.max_message_chars:
                raise Rejected(
                    "too_large",
                    f"history message {i} is {len(m.content)} characters; the limit is "
                    f"{s.max_message_chars} (RAG_MAX_MESSAGE_CHARS)",
                )
        kept = [m for m in history if m.role in ("user", "assistant") and m.content.strip()]
        return cap_history(kept, s.max_history_messages, s.max_history_chars)

    def remember(self, answer: Answer, asker: Asker, answer_id: str | None = None) -> str:
        """Keep the answer for later votes; its id. A database write: call it off the event loop."""
        answer_id = answer_id or uuid.uuid4().hex
        self.feedback.remember(
            answer_id,
            surface=asker.surface,
            place=asker.place,
            asker=asker.who,
            question=answer.question,
            answer=answer.answer,
            refused=answer.refused,
            citations=[citation_dict(n, p) for n, p in answer.citations],
        )
        return answer_id

    # From the event loop (HTTP) -----------------------------------------------------------------------------
    async def open(
        self,
        question: str,
        history: Sequence[Message],
        asker: Asker,
        top_k: int | None = None,
        answer_id: str | None = None,
    ) -> AnswerStream:
        """Check the limits and wait for a slot (Rejected, Busy), then the answer's events, to be iterated and
        closed. Opening first lets a surface refuse before it commits to a response (a 503, not a broken stream)."""
        kept = self.limits(question, history)
        ticket = self.gate.enter()
        await ticket.wait_async()
        return AnswerStream(self, ticket, question, kept, asker, top_k, answer_id)

    async def ask(
        self,
        question: str,
        history: Sequence[Message],
        asker: Asker,
        top_k: int | None = None,
        until: Callable[[], Awaitable[None]] | None = None,
        answer_id: str | None = None,
    ) -> Finished:
        """The finished answer; stopped with Abandoned as soon as `until` returns (the client hung up)."""
        stream = await self.open(question, history, asker, top_k, answer_id)
        try:
            return await stream.finish(until)
        finally:
            await stream.close()

    # From a thread (Slack's workers, the `rag` command) -------------------------------------------------------
    def ask_sync(
        self,
        question: str,
        history: Sequence[Message],
        asker: Asker,
        top_k: int | None = None,
        ticket: Ticket | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Finished:
        """The finished answer, written in this thread; `ticket` is a place at the gate taken earlier (a Slack
        event takes it when it arrives, so a full queue is said at once), given back here whatever happens."""
        try:
            kept = self.limits(question, history)
            ticket = ticket or self.gate.enter()
            ticket.wait()
            for ev in self._counted(self.answerer.stream(question, kept, top_k, asker.instructions, asker.reader)):
                if isinstance(ev, Token) and on_token is not None:
                    on_token(ev.text)
                elif isinstance(ev, Done):
                    answer_id = self.remember(ev.answer, asker) if asker.remember else None
                    return Finished(ev.answer, answer_id)
            raise AssertionError("the answer stream ended without an answer")
        finally:
            if ticket is not None:
                ticket.release()

    def _counted(self, events: Iterator[Event]) -> Iterator[Event]:
        """The events, with answers and failures reported to the observer."""
        try:
            for ev in events:
                if isinstance(ev, Done):
                    self.observer.answered(ev.answer)
                yield ev
        except AnswerFailed as e:
            self.observer.failed(e.error, e.retrieval_ms)
            raise
        except LLMError as e:
            self.observer.failed(e)
            raise
        finally:
            close = getattr(events, "close", None)
            if close is not None:  # a stream stopped early closes the answer step's (and the LLM's) stream
                close()


class AnswerStream:
    """One answer being written: holds its generation slot from `open` until `close` (call it however the
    surface ends, or iterate to the end). Yields Sources, Token and, last, Finished."""

    def __init__(
        self,
        service: AnswerService,
        ticket: Ticket,
        question: str,
        history: list[Message],
        asker: Asker,
        top_k: int | None,
        answer_id: str | None,
    ) -> None:
        self.service = service
        self.ticket = ticket
        self._events = self._run(question, history, asker, top_k, answer_id)

    def __aiter__(self) -> AsyncIterator[Sources | Token | Finished]:
        return self._events

    async def _run(
        self, question: str, history: list[Message], asker: Asker, top_k: int | None, answer_id: str | None
    ) -> AsyncIterator[Sources | Token | Finished]:
        service = self.service
        try:
            events = service._counted(
                service.answerer.stream(question, history, top_k, asker.instructions, asker.reader)
            )
            async for ev in in_thread(events):
                if isinstance(ev, Done):
                    remembered = None
                    if asker.remember:
                        remembered = await anyio.to_thread.run_sync(service.remember, ev.answer, asker, answer_id)
                    yield Finished(ev.answer, remembered)
                elif isinstance(ev, Sources | Token):
                    yield ev
        finally:
            self.ticket.release()

    async def finish(self, until: Callable[[], Awaitable[None]] | None = None) -> Finished:
        """Read to the end; Abandoned as soon as `until` returns (the answer is then stopped)."""
        outcome: dict[str, Any] = {}

        async def consume() -> None:
            try:
                async for ev in self._events:
                    if isinstance(ev, Finished):
                        outcome["done"] = ev
            except Exception as e:  # re-raised below, outside the task group (which would wrap it)
                outcome["error"] = e
            tg.cancel_scope.cancel()

        async def watch() -> None:
            assert until is not None
            await until()
            tg.cancel_scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            if until is not None:
                tg.start_soon(watch)
        if "error" in outcome:
            raise outcome["error"]
        if "done" not in outcome:
            raise Abandoned("the asker went away before the answer was ready")
        return outcome["done"]  # type: ignore[no-any-return]

    async def close(self) -> None:
        """Stop the answer if it is still being written, and give the slot back."""
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(RuntimeError):  # already running elsewhere: its own end releases
                await self._events.aclose()  # type: ignore[attr-defined]
            self.ticket.release()


async def in_thread(gen: Iterator[T]) -> AsyncIterator[T]:
    """Each step of a blocking generator in a worker thread, so embedding, the index and the LLM never stall
    the event loop."""
    sentinel = object()
    try:
        while True:
            item = await anyio.to_thread.run_sync(next, gen, sentinel)
            if item is sentinel:
                return
            yield item  # type: ignore[misc]
    finally:
        # An asker who hangs up mid-answer cancels us: close the generator so the LLM stream it holds is closed
        # too, instead of generating for nobody. Shielded, or the cancellation would skip it.
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            close = getattr(gen, "close", None)
            if close is not None:
                await anyio.to_thread.run_sync(close)
