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
from typing import Any

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
class Claim:
    """One statement of the answer and the numbers of the sentences the model says state it."""

    text: str
    evidence: tuple[int, ...]


@dataclass(frozen=True)
class Reply:
    answer: str
    quote: str | None  # None: the reply was not in the quote/answer shape
    structured: bool
    claims: tuple[Claim, ...] | None = None  # the evidence-ids shape: None when the reply was not in it


def claims_format(ids: list[int], max_claims: int = 4, max_evidence: int = 3) -> dict[str, Any]:
    """`response_format` for the evidence-ids reply: evidence numbers held to the sentences shown (an enum the
    sampler enforces, so the model cannot name one that does not exist), evidence before text in each claim."""
    claim = {
        "type": "object",
        "properties": {
            "evidence": {
                "type": "array",
                "items": {"type": "integer", "enum": ids},
                "minItems": 1,
                "maxItems": max_evidence,
            },
            "text": {"type": "string"},
        },
        "required": ["evidence", "text"],
        "additionalProperties": False,
    }
    schema = {
        "type": "object",
        "properties": {"claims": {"type": "array", "items": claim, "maxItems": max_claims}},
        "required": ["claims"],
        "additionalProperties": False,
    }
    # Not `strict`: OpenAI's strict mode refuses minItems/maxItems; llama.cpp enforces the grammar either way.
    return {"type": "json_schema", "json_schema": {"name": "cited_claims", "schema": schema, "strict": False}}


def parse_claims(raw: str) -> tuple[Claim, ...] | None:
    """The claims of an evidence-ids reply (a cut-off reply keeps its complete claims); None if not that shape."""
    text = raw.strip()
    if text.startswith("```"):
        text = re.sub(r"^```\w*\s*|\s*```$", "", text)
    if not text.startswith("{") or '"claims"' not in text:
        return None
    try:
        obj = json.loads(text)
        items = obj.get("claims") if isinstance(obj, dict) else None
    except json.JSONDecodeError:
        items = _complete_objects(text[text.index('"claims"') :])
    if not isinstance(items, list):
        return None
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        claim_text = str(item.get("text") or "").strip()
        ids = item.get("evidence")
        ids = ids if isinstance(ids, list) else []
        numbers = tuple(dict.fromkeys(int(i) for i in ids if isinstance(i, int | float) and not isinstance(i, bool)))
        if claim_text:
            out.append(Claim(claim_text, numbers))
    return tuple(out)


def _complete_objects(text: str) -> list[Any]:
    """The complete `{...}` items of a JSON array cut off mid-way."""
    out = []
    decoder = json.JSONDecoder()
    i = text.find("[")
    while i >= 0:
        j = text.find("{", i)
        if j < 0:
            break
        try:
            obj, end = decoder.raw_decode(text, j)
        except json.JSONDecodeError:
            break
        out.append(obj)
        i = end
    return out


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
            if '"claims"' in self.buffer:
                return _claim_texts_so_far(self.buffer)
            return _partial_string(self.buffer, "answer")
        m = re.search(r"^\s*answer\s*:\s*", self.buffer, re.I | re.M)
        if m:
            return self.buffer[m.end() :]
        if _FIELD.search(self.buffer) or not head or len(head) < 8 and "quote".startswith(head.lower()[:5]):
            return None  # a quote is being written, or too little to tell yet
        return self.buffer  # a plain reply: it is the answer


def _claim_texts_so_far(buffer: str) -> str | None:
    """The claims' texts written so far, joined by spaces: a prefix of the final joined text as it grows."""
    parts: list[str] = []
    for m in re.finditer(r'"text"\s*:\s*"', buffer):
        part = _partial_string(buffer[m.start() :], "text")
        if part is None:
            break
        parts.append(part.strip() if parts else part.lstrip())
    return " ".join(parts) if parts else None
