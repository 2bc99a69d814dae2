"""A small OpenAI-compatible server over real HTTP, standing in for a remote LLM in tests.

Its replies are scripted: by default it answers with the passage sentence that best matches the question (as
JSON {"quote", "answer"} when the request carries a schema, else as a cited sentence), and refuses when no
passage shares a word with the question. Tests can set `reply` (a fixed text or a
function of the messages), `status` (an HTTP error to return), `delay` (seconds before answering) or `hold` (an
Event chat calls wait for). `in_flight` and `most_in_flight` count the chat calls being answered at once.

It also serves /embeddings (RAG_EMBEDDING_BACKEND=openai): deterministic hashed bag-of-words vectors, so a
question finds the passages that share its words, and every text embedded is counted in `embedded` (a test
of "each chunk embedded once" across processes counts here). `embed_delay` slows each request down.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = str | Callable[[list[dict[str, str]]], str]
REFUSAL = "The documents do not answer this question."


def passages_in(prompt: str) -> list[tuple[str, str]]:
    """(number, text) of the passages in an answer prompt (`<passage id="n" ...>` blocks)."""
    return [(n, t.strip()) for n, t in re.findall(r'<passage id="(\d+)"[^>]*>\n(.*?)\n</passage>', prompt, re.S)]


EMBEDDING_DIM = 256


def hashed_vector(text: str) -> list[float]:
    """Word counts hashed into EMBEDDING_DIM buckets (plus one constant, so no text is the zero vector)."""
    vector = [0.0] * EMBEDDING_DIM
    vector[0] = 0.1
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[1 + zlib.crc32(word.encode()) % (EMBEDDING_DIM - 1)] += 1.0
    return vector


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]{5,}", text.lower()))


def default_reply(messages: list[dict[str, str]], structured: bool = False) -> str:
    """Answer with the passage sentence sharing most words with the question; refuse if none shares any.

    Like a careful reader, not like the first passage: the answer does not depend on the retrieval order.
    `structured` (the request carried a JSON schema): reply {"quote", "answer"}, as a schema-bound server does;
    else a plain cited sentence. The support check's yes/no question is answered by word overlap."""
    user = messages[-1]["content"]
    verify = re.match(r"<passage>\n(.*)\n</passage>\n\nQuestion: .*\nProposed answer: (.*)\n", user, re.S)
    if verify:
        claim = _words(verify.group(2))
        return "yes" if len(claim & _words(verify.group(1))) * 2 >= len(claim) else "no"
    if re.match(r"<passage>\n", user):  # a yes/no question asked of one sentence: yes unless it says "not"
        return "no" if re.search(r"\bnot\b", user.split("</passage>")[0]) else "yes"
    if "Standalone question:" in user:  # the follow-up rewriting prompt
        # The last match: the prompt may open with a worked example of its own.
        last = re.findall(r"Last question: (.*)", user)
        convo = re.findall(r"user: (.*)", user)
        return f"{last[-1] if last else ''} (about: {convo[-1] if convo else ''})"
    question = re.search(r"Question: (.*)", user)
    numbered = sentences_in(user)
    if numbered:  # evidence by sentence ids: name the best sentence's number
        return _by_ids(question.group(1) if question else "", numbered, structured)
    passages = passages_in(user)
    refusal = json.dumps({"quote": "", "answer": ""}) if structured else REFUSAL
    if not question or not passages:
        return refusal
    words = _words(question.group(1))
    best, best_n, best_overlap = "", "", 0
    for n, text in passages:
        for sentence in re.split(r"(?<=[.!?])\s", text.strip()):
            overlap = len(words & _words(sentence))
            if overlap > best_overlap:
                best, best_n, best_overlap = sentence.strip(), n, overlap
    if not best:
        return refusal
    if structured:
        return json.dumps({"quote": best, "answer": best})
    return f"{best.rstrip('.')} [{best_n}]."


def sentences_in(prompt: str) -> list[tuple[int, str]]:
    """(id, text) of the numbered sentences of an evidence-ids prompt (`[n] text` lines in passage blocks)."""
    out = []
    for block in re.findall(r"<passage title=[^>]*>\n(.*?)\n</passage>", prompt, re.S):
        out.extend((int(n), s.strip()) for n, s in re.findall(r"^\[(\d+)\] (.*)$", block, re.M))
    return out


def claims_reply(*claims: tuple[list[int], str]) -> str:
    """An evidence-ids reply: each claim's sentence ids and text."""
    return json.dumps({"claims": [{"evidence": ids, "text": text} for ids, text in claims]})


def _by_ids(question: str, numbered: list[tuple[int, str]], structured: bool) -> str:
    words = _words(question)
    best = max(numbered, key=lambda s: len(words & _words(s[1])))
    if not words & _words(best[1]):
        return claims_reply() if structured else REFUSAL
    if structured:
        return claims_reply(([best[0]], best[1]))
    return f"{best[1].rstrip('.')} [{best[0]}]."


class FakeOpenAI:
    def __init__(self) -> None:
        self.reply: Reply = default_reply
        self.status: int | None = None
        self.delay = 0.0
        self.hold: threading.Event | None = None  # when set to an unset Event, chat calls wait for it
        self.token_delay = 0.0  # seconds between streamed pieces, to watch a surface stream
        self.reject_response_format = False  # answer 400 to a request with a JSON schema, as some servers do
        self.abandoned = 0  # streams whose client hung up before the end
        self.pings = 0  # GET requests (model list): what a readiness check costs
        self.model = "fake-model"
        self.confidence = 0.9  # P of the word written, in the log-probabilities of a yes/no reply
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0  # chat calls being answered now, and the most there ever were at once
        self.most_in_flight = 0
        self._flight_lock = threading.Lock()
        self.embedded: Counter[str] = Counter()  # every text sent to /embeddings, with how often
        self.embed_requests = 0
        self.embed_delay = 0.0
        self._embed_lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        self.reply, self.status, self.delay, self.token_delay = default_reply, None, 0.0, 0.0
        if self.hold is not None:
            self.hold.set()  # never leave a caller of the previous test waiting
        self.hold = None
        self.reject_response_format = False
        self.confidence = 0.9
        self.abandoned = 0
        self.requests.clear()
        self.in_flight = self.most_in_flight = 0
        self.embedded.clear()
        self.embed_requests, self.embed_delay = 0, 0.0

    def logprobs_of(self, text: str) -> dict[str, Any]:
        """Token log-probabilities for a one-word reply, as llama.cpp and OpenAI send them: the word written
        gets `self.confidence`, the other of yes/no the rest (a test sets a word like "0.3" to script P(yes))."""
        word = text.strip().lower()
        try:
            p_yes = float(word)
            word = "yes" if p_yes >= 0.5 else "no"
        except ValueError:
            if not word.startswith(("yes", "no")):  # neither: no yes or no among the likely tokens either
                return {"content": [{"token": word, "logprob": 0.0, "bytes": None, "top_logprobs": []}]}
            p_yes = self.confidence if word.startswith("yes") else 1 - self.confidence
        top = [
            {"token": "yes", "logprob": math.log(max(p_yes, 1e-9)), "bytes": None},
            {"token": "no", "logprob": math.log(max(1 - p_yes, 1e-9)), "bytes": None},
        ]
        return {
            "content": [
                {
                    "token": word,
                    "logprob": top[0 if word == "yes" else 1]["logprob"],
                    "bytes": None,
                    "top_logprobs": top,
                }
            ]
        }

    def text_for(self, body: dict[str, Any]) -> str:
        messages = body["messages"]
        if self.reply is default_reply:
            return default_reply(messages, structured="response_format" in body)
        return self.reply(messages) if callable(self.reply) else self.reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _embeddings(self, body: dict[str, Any]) -> None:
                texts = [body["input"]] if isinstance(body["input"], str) else list(body["input"])
                with fake._embed_lock:
                    fake.embed_requests += 1
                    fake.embedded.update(texts)
                if fake.embed_delay:
                    time.sleep(fake.embed_delay)
                data = [{"object": "embedding", "index": i, "embedding": hashed_vector(t)} for i, t in enumerate(texts)]
                usage = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
                self._json(200, {"object": "list", "data": data, "model": body.get("model", ""), "usage": usage})

            def do_GET(self) -> None:
                fake.pings += 1
                if fake.status:
                    return self._json(fake.status, {"error": {"message": "scripted failure"}})
                if self.path.rstrip("/").endswith("/models"):
                    return self._json(200, {"object": "list", "data": [{"id": fake.model, "object": "model"}]})
                self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                chat = self.path.endswith("/chat/completions")
                if chat:
                    with fake._flight_lock:
                        fake.in_flight += 1
                        fake.most_in_flight = max(fake.most_in_flight, fake.in_flight)
                try:
                    self._post()
                finally:
                    if chat:
                        with fake._flight_lock:
                            fake.in_flight -= 1

            def _post(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                fake.requests.append(body)
                if fake.hold is not None and self.path.endswith("/chat/completions"):
                    fake.hold.wait(60)
                if fake.delay:
                    time.sleep(fake.delay)
                if fake.status:
                    return self._json(fake.status, {"error": {"message": f"scripted failure {fake.status}"}})
                if self.path.endswith("/embeddings"):
                    return self._embeddings(body)
                if not self.path.endswith("/chat/completions"):
                    return self._json(404, {"error": {"message": "not found"}})
                if fake.reject_response_format and "response_format" in body:
                    return self._json(400, {"error": {"message": "response_format is not supported"}})
                text = fake.text_for(body)
                # Tokens as a server counts them, near enough: words of the prompt, pieces of the reply.
                prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in body["messages"])
                completion_tokens = len(re.findall(r"\S+\s*", text))
                usage = {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                }
                if not body.get("stream"):
                    return self._json(
                        200,
                        {
                            "id": "chatcmpl-fake",
                            "object": "chat.completion",
                            "created": int(time.time()),
                            "model": fake.model,
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop",
                                    **({"logprobs": fake.logprobs_of(text)} if body.get("logprobs") else {}),
                                }
                            ],
                            "usage": usage,
                        },
                    )
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for piece in re.findall(r"\S+\s*", text):
                    chunk = {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion.chunk",
                        "created": 0,
                        "model": fake.model,
                        "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                    }
                    try:
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                    except OSError:  # the client closed the stream: like llama.cpp, stop generating
                        fake.abandoned += 1
                        self.close_connection = True
                        return
                    if fake.token_delay:
                        time.sleep(fake.token_delay)
                end = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": fake.model,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                }
                tail = f"data: {json.dumps(end)}\n\n"
                if (body.get("stream_options") or {}).get("include_usage"):  # as OpenAI: a last chunk, no choices
                    tail += f"data: {json.dumps({**end, 'choices': [], 'usage': usage})}\n\n"
                self.wfile.write(f"{tail}data: [DONE]\n\n".encode())
                self.wfile.flush()
                self.close_connection = True

        return Handler
