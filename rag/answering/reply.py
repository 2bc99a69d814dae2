"""The model's reply, parsed: the quote it copied as evidence and the answer it drew from it.

The answer prompt asks for JSON `{"quote": ..., "answer": ...}` (evidence first, so the answer is written with
the copied sentence in front of the model). Servers that take a JSON schema are held to it by the sampler;
for those that do not, the same prompt also accepts `Quote: ...` / `Answer: ...` lines, and a reply in neither
shape is kept as a plain answer, to be checked sentence by sentence (rag/answering/plain.py).
`AnswerStream` pulls the answer's text out of a reply still being written, so users read the answer as it
comes, never raw JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

# What llama.cpp and OpenAI take as `response_format` to constrain the reply to this shape.
SCHEMA = {
    "type": "object",
    "properties": {"quote": {"type": "string"}, "answer": {"type": "string"}},
    "required": ["quote", "answer"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {"type": "json_schema", "json_schema": {"name": "quoted_answer", "schema": SCHEMA, "strict": True}}

_FIELD = re.compile(r"^\s*(quote|evidence|answer)\s*:\s*", re.I | re.M)


@dataclass(frozen=True)
class Reply:
    answer: str
    quote: str | None  # None: the reply was not in the quote/answer shape
    structured: bool


def parse(raw: str) -> Reply:
    text = raw.strip()
    if text.startswith("```"):  # a model that wraps its JSON in a code fence
        text = re.sub(r"^```\w*\s*|\s*```$", "", text)
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            obj = _salvage(text)
        if isinstance(obj, dict) and ("answer" in obj or "quote" in obj):
            return Reply(str(obj.get("answer") or "").strip(), str(obj.get("quote") or "").strip(), True)
    fields = list(_FIELD.finditer(text))
    if fields:
        values: dict[str, str] = {}
        for m, nxt in zip(fields, [*fields[1:], None], strict=True):
            key = "quote" if m.group(1).lower() in ("quote", "evidence") else "answer"
            values.setdefault(key, text[m.end() : nxt.start() if nxt else len(text)].strip().strip('"“”'))
        if "answer" in values:
            return Reply(values["answer"], values.get("quote", ""), True)
    return Reply(text, None, False)


def _salvage(text: str) -> dict[str, str] | None:
    """A reply cut off by max_tokens: take whatever complete or partial string fields it has."""
    out = {}
    for key in ("quote", "answer"):
        value = _partial_string(text, key)
        if value is not None:
            out[key] = value
    return out or None


def _partial_string(buffer: str, key: str) -> str | None:
    m = re.search(rf'"{key}"\s*:\s*"', buffer)
    if not m:
        return None
    body, i = [], m.end()
    while i < len(buffer):
        ch = buffer[i]
        if ch == "\\":
            if i + 1 >= len(buffer):
                break
            if buffer[i + 1] == "u":
                if i + 6 > len(buffer):
                    break
                body.append(buffer[i : i + 6])
                i += 6
                continue
            body.append(buffer[i : i + 2])
            i += 2
            continue
        if ch == '"':
            break
        body.append(ch)
        i += 1
    try:
        return str(json.loads('"' + "".join(body) + '"'))
    except json.JSONDecodeError:
        return None


class AnswerStream:
    """Feed the reply's pieces as they arrive; get back the new text of its answer part, if any."""

    def __init__(self) -> None:
        self.buffer = ""
        self.sent = 0

    def feed(self, piece: str) -> str:
        self.buffer += piece
        current = self._answer_so_far()
        if current is None or len(current) <= self.sent:
            return ""
        new = current[self.sent :]
        self.sent = len(current)
        return new

    def _answer_so_far(self) -> str | None:
        head = self.buffer.lstrip()
        if head.startswith(("{", "```")):
            return _partial_string(self.buffer, "answer")
        m = re.search(r"^\s*answer\s*:\s*", self.buffer, re.I | re.M)
        if m:
            return self.buffer[m.end() :]
        if _FIELD.search(self.buffer) or not head or len(head) < 8 and "quote".startswith(head.lower()[:5]):
            return None  # a quote is being written, or too little to tell yet
        return self.buffer  # a plain reply: it is the answer
