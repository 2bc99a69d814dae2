"""Running the pipeline's (blocking) answer stream off the event loop, and Server-Sent Events framing."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

import anyio
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from api.public import redact

T = TypeVar("T")


async def in_thread(gen: Iterator[T]) -> AsyncIterator[T]:
    """Each step of a blocking generator in a worker thread, so embedding, Chroma and the LLM never stall
    the event loop."""
    try:
        async for item in iterate_in_threadpool(gen):
            yield item
    finally:
        # A client that hangs up mid-answer cancels us: close the generator so the LLM stream it holds is
        # closed too, instead of generating for nobody. Shielded, or the cancellation would skip it.
        with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
            close = getattr(gen, "close", None)
            if close is not None:
                await run_in_threadpool(close)


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(redact(data), ensure_ascii=False)}\n\n"


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
