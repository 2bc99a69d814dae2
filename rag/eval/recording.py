"""Model replies recorded by their prompt, so a change to the answer checks replays a whole run in seconds.

`RecordedLLM` is the LLM with a JSONL file beside it: a call whose exact request (method, messages, schema,
limits) is in the file gets the recorded reply at once; any other is asked of the server and appended. Each
record keeps the seconds the server took, and those are added to the question's time on replay, so a replayed
run reports the latency the same model would have had (calls a change no longer makes cost nothing; calls it
adds are made live and timed).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any, cast

from rag.llm.client import LLM


def request_key(method: str, model: str, **request: Any) -> str:
    body = json.dumps({"method": method, "model": model, **request}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


class Recording:
    """The JSONL file of replies, loaded once; appends are serialised across the harness's threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.replies: dict[str, dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    record = json.loads(line)
                    self.replies[record["key"]] = record
        self._lock = threading.Lock()
        self._local = threading.local()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> dict[str, Any] | None:
        """The record of a request ({"reply": ...}; a reply may itself be None), or None if never asked."""
        record = self.replies.get(key)
        if record is None:
            return None
        with self._lock:
            self.hits += 1
        self._local.seconds = self.replayed_seconds() + float(record.get("seconds", 0.0))
        return record

    def put(self, key: str, method: str, reply: Any, seconds: float, request: dict[str, Any] | None = None) -> None:
        record = {"key": key, "method": method, "reply": reply, "seconds": round(seconds, 3), "request": request}
        with self._lock:
            self.misses += 1
            self.replies[key] = record
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def replayed_seconds(self) -> float:
        """Seconds of recorded replies served to this thread since the last `reset_thread()`."""
        return float(getattr(self._local, "seconds", 0.0))

    def reset_thread(self) -> None:
        self._local.seconds = 0.0


class RecordedLLM(LLM):
    """The same LLM, its replies looked up in (and added to) a Recording first."""

    recording: Recording

    @classmethod
    def wrap(cls, llm: LLM, recording: Recording) -> RecordedLLM:
        out = cls(**{f.name: getattr(llm, f.name) for f in fields(llm)})
        out.recording = recording
        return out

    def metered(self) -> RecordedLLM:
        out = cast(RecordedLLM, super().metered())
        out.recording = self.recording
        return out

    def _cached(self, method: str, request: dict[str, Any], call: Any) -> Any:
        key = request_key(method, self.model, **request)
        found = self.recording.get(key)
        if found is not None:
            return found["reply"]
        t0 = time.perf_counter()
        reply = call()
        self.recording.put(key, method, reply, time.perf_counter() - t0, request)
        return reply

    def chat(self, messages: list[dict[str, str]], max_tokens: int | None = None) -> str:
        request = {"messages": messages, "max_tokens": max_tokens or self.max_tokens, "t": self.temperature}
        return str(self._cached("chat", request, lambda: super(RecordedLLM, self).chat(messages, max_tokens)))

    def stream(self, messages: list[dict[str, str]], response_format: dict[str, Any] | None = None) -> Iterator[str]:
        fmt = None if self.plain_only else response_format
        request = {"messages": messages, "response_format": fmt, "max_tokens": self.max_tokens, "t": self.temperature}
        text = self._cached(
            "stream", request, lambda: "".join(super(RecordedLLM, self).stream(messages, response_format))
        )
        yield str(text)

    def yes_probability(self, messages: list[dict[str, str]]) -> float | None:
        found = self._cached(
            "yes_probability", {"messages": messages}, lambda: super(RecordedLLM, self).yes_probability(messages)
        )
        return None if found is None else float(found)
