"""Back-pressure and abandonment for the endpoints that generate answers.

A generation holds a worker thread and the LLM for seconds. Without a bound, a burst of questions (or of
clients that give up and retry) fills the thread pool and every other request waits behind it. So: at most
RAG_MAX_GENERATIONS answers are generated at once, RAG_MAX_QUEUED more wait (holding no thread), and the rest
get a fast 503 with `Retry-After`; and an answer whose client has gone away is stopped, not finished for nobody.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from api.errors import APIError
from rag.answering.answerer import Answer, Done, Event
from rag.config import Settings


class GenerationGate:
    """A semaphore with a bounded queue; `Retry-After` estimated from how long answers take."""

    def __init__(self, slots: int, queue: int, timeout: float) -> None:
        self.slots = slots
        self.queue = queue
        self.timeout = timeout
        self.waiting = 0
        self.active = 0
        self.seconds_per_answer = 5.0  # a moving average, refined by every answer
        self._sem: anyio.Semaphore | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> GenerationGate:
        return cls(settings.generation_slots, settings.max_queued, settings.queue_timeout)

    def retry_after(self) -> int:
        rounds = (self.waiting + self.active) / self.slots
        return max(1, math.ceil(rounds * self.seconds_per_answer))

    def _busy(self, why: str) -> APIError:
        wait = self.retry_after()
        return APIError(
            503,
            "overloaded",
            f"the server is busy: {why}; try again in {wait} s (limits: RAG_MAX_GENERATIONS={self.slots}, "
            f"RAG_MAX_QUEUED={self.queue})",
            headers={"Retry-After": str(wait)},
        )

    async def acquire(self) -> float:
        """Wait for a slot (the start time, for `release`), or raise a 503 when the queue is full or too slow."""
        if self._sem is None:  # created inside the event loop that uses it
            self._sem = anyio.Semaphore(self.slots)
        if self._sem.value == 0 and self.waiting >= self.queue:
            raise self._busy(f"{self.active} answers are being written and {self.waiting} are waiting")
        self.waiting += 1
        try:
            with anyio.fail_after(self.timeout):
                await self._sem.acquire()
        except TimeoutError:
            raise self._busy(f"no answer slot came free within {self.timeout:g} s (RAG_QUEUE_TIMEOUT)") from None
        finally:
            self.waiting -= 1
        self.active += 1
        return time.monotonic()

    def release(self, started: float) -> None:
        assert self._sem is not None
        self.active -= 1
        self._sem.release()
        self.seconds_per_answer = 0.8 * self.seconds_per_answer + 0.2 * (time.monotonic() - started)


def gate_of(request: Request) -> GenerationGate:
    return request.app.state.generation_gate  # type: ignore[no-any-return]


class ClientGone(APIError):
    def __init__(self) -> None:
        # 499, nginx's "client closed request": nobody reads it, but the request log says what happened.
        super().__init__(499, "client_closed", "the client closed the connection before the answer was ready")


async def collect_answer(request: Request, events: AsyncIterator[Event]) -> Answer:
    """The Done answer of an event stream, stopped as soon as the client disconnects (ClientGone)."""
    outcome: dict[str, Any] = {}

    async def consume() -> None:
        try:
            async for ev in events:
                if isinstance(ev, Done):
                    outcome["answer"] = ev.answer
        except Exception as e:  # re-raised below, outside the task group (which would wrap it)
            outcome["error"] = e
        tg.cancel_scope.cancel()

    async def watch() -> None:
        # The body was read already, so the next message the server has for us is the disconnect.
        while (await request.receive())["type"] != "http.disconnect":
            pass
        tg.cancel_scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        tg.start_soon(watch)
    if "error" in outcome:
        raise outcome["error"]
    if "answer" not in outcome:
        raise ClientGone()
    return outcome["answer"]  # type: ignore[no-any-return]


class GatedStream(StreamingResponse):
    """A streamed answer that gives its generation slot back when it ends, however it ends."""

    def __init__(self, gate: GenerationGate, started: float, content: AsyncIterator[str], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.gate = gate
        self.started = started

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.gate.release(self.started)
