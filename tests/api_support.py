"""Helpers for the API tests: the app with chosen settings on a live loopback server, SSE parsing, and an
LLM double that breaks off in the middle of a streamed answer."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from rag.pipeline import Pipeline
from tests.conftest import LiveServer

QUESTION = "What does Serbia want to import from Azerbaijan?"


@contextmanager
def serve_api(pipeline: Pipeline, **overrides: Any) -> Iterator[LiveServer]:
    """The real app on a free loopback port; `overrides` change the app's settings (keys, limits)."""
    from api.app import create_app

    settings = pipeline.settings.model_copy(update=overrides)
    with LiveServer(create_app(settings, pipeline)) as server:
        yield server


def sse_events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) pairs of a text/event-stream response, read as it arrives."""
    events: list[tuple[str, dict[str, Any]]] = []
    name, data = "message", list[str]()
    for line in response.iter_lines():
        if not line:
            if data:
                events.append((name, json.loads("\n".join(data))))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    return events


class BrokenStreamLLM:
    """An OpenAI-compatible endpoint that starts a streamed answer, sends a few words, then drops the
    connection: the model failing mid-way. Anything that is not a streaming chat call gets a 500."""

    WORDS = ["Serbia ", "would ", "import "]

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> BrokenStreamLLM:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                got = conn.recv(65536)
                if not got:
                    return
                head += got
            headers, _, body = head.partition(b"\r\n\r\n")
            length = next(
                (int(h.split(b":")[1]) for h in headers.split(b"\r\n") if h.lower().startswith(b"content-length")), 0
            )
            while len(body) < length:
                body += conn.recv(65536)
            if b'"stream": true' not in body and b'"stream":true' not in body:
                err = b'{"error": {"message": "broken"}}'
                conn.sendall(
                    b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(err)}\r\nConnection: close\r\n\r\n".encode()
                    + err
                )
                return
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            for word in self.WORDS:
                delta = {"choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
                event = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "broken", **delta}
                data = f"data: {json.dumps(event)}\n\n".encode()
                conn.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            # The server dies mid-answer: the chunked body never gets its last (empty) chunk.
