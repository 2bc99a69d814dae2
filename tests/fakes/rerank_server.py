"""A reranker over real HTTP speaking the common /rerank shape (Cohere, Jina, vLLM, llama.cpp's server).

Its scores are the share of the query's words found in each document, unless a test sets `score` (a function
of query and document), `status` (an HTTP error to return) or `raw` (the reply's bytes, whatever they are). Every
request body is kept in `requests`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Score = Callable[[str, str], float]


def word_overlap(query: str, document: str) -> float:
    words = set(re.findall(r"[a-z]{4,}", query.lower()))
    return len(words & set(re.findall(r"[a-z]{4,}", document.lower()))) / max(1, len(words))


class FakeReranker:
    def __init__(self) -> None:
        self.score: Score = word_overlap
        self.status: int | None = None
        self.raw: bytes | None = None
        self.requests: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1/rerank"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeReranker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        scored = [(i, self.score(body["query"], doc)) for i, doc in enumerate(body["documents"])]
        scored.sort(key=lambda pair: -pair[1])
        top = scored[: body.get("top_n") or len(scored)]
        return {
            "model": body.get("model", "fake-reranker"),
            "results": [{"index": i, "relevance_score": s} for i, s in top],
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                fake.requests.append(body)
                if self.path != "/v1/rerank":
                    status, out = 404, {"error": f"no route {self.path}"}
                elif fake.status:
                    status, out = fake.status, {"error": "the reranker is broken"}
                else:
                    status, out = 200, fake.answer(body)
                data = fake.raw if fake.raw is not None and status == 200 else json.dumps(out).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
