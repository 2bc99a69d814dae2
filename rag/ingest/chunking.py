"""Token-aware chunks with exact character spans: chunk.text == document.text[chunk.start:chunk.end].

Text is cut into pieces at paragraph, then sentence, then word boundaries (tokens only as a last resort),
and pieces are packed greedily up to the token budget; neighbouring chunks share `overlap` tokens of
whole pieces. A chunk the embedding model would truncate is split again, so nothing goes unembedded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import tiktoken

_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE = re.compile(r"(?<=[.!?;:])[\"')\]]*\s+|\n")
_WORD = re.compile(r"\S+\s*")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


def _split(text: str, start: int, end: int, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    out, pos = [], start
    for m in pattern.finditer(text, start, end):
        if m.end() > pos:
            out.append((pos, m.end()))
            pos = m.end()
    if pos < end:
        out.append((pos, end))
    return out


def _pieces(text: str, enc: tiktoken.Encoding, size: int) -> list[tuple[int, int, int]]:
    """(start, end, tokens) pieces, each at most `size` tokens, covering the text in order."""
    out: list[tuple[int, int, int]] = []
    levels = [_PARAGRAPH, _SENTENCE, _WORD]

    def visit(s: int, e: int, level: int) -> None:
        n = len(enc.encode_ordinary(text[s:e]))
        if n <= size:
            out.append((s, e, n))
            return
        if level < len(levels):
            parts = _split(text, s, e, levels[level])
            if len(parts) > 1:
                for ps, pe in parts:
                    visit(ps, pe, level + 1)
                return
            visit(s, e, level + 1)
            return
        # One "word" longer than a chunk (a URL, base64...): cut it by tokens.
        tokens = enc.encode_ordinary(text[s:e])
        _, offsets = enc.decode_with_offsets(tokens)
        for i in range(0, len(tokens), size):
            ps = s + offsets[i]
            pe = s + offsets[i + size] if i + size < len(tokens) else e
            if pe > ps:
                out.append((ps, pe, min(size, len(tokens) - i)))

    visit(0, len(text), 0)
    return out


def _trim(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def chunk_text(
    text: str,
    enc: tiktoken.Encoding,
    size: int,
    overlap: int,
    model_tokens: Callable[[str], int] | None = None,
    model_limit: int = 0,
) -> list[Span]:
    """Split text into chunks of at most `size` tokens (and at most `model_limit` embedding tokens)."""
    overlap = min(overlap, size // 2)
    pieces = _pieces(text, enc, size)
    chunks: list[Span] = []
    i = 0
    while i < len(pieces):
        j, total = i, 0
        while j < len(pieces) and total + pieces[j][2] <= size:
            total += pieces[j][2]
            j += 1
        j = max(j, i + 1)
        s, e = _trim(text, pieces[i][0], pieces[j - 1][1])
        if e > s:
            span = Span(s, e, text[s:e])
            if model_tokens and model_limit and model_tokens(span.text) > model_limit and size > 16:
                # Dense text (numbers, code) can be more model tokens than tiktoken tokens.
                for sub in chunk_text(span.text, enc, size * 3 // 4, overlap, model_tokens, model_limit):
                    chunks.append(Span(s + sub.start, s + sub.end, sub.text))
            else:
                chunks.append(span)
        if j >= len(pieces):
            break
        # Step back over whole pieces that fit in the overlap budget, always moving forward.
        k, back = j, 0
        while k - 1 > i and back + pieces[k - 1][2] <= overlap:
            back += pieces[k - 1][2]
            k -= 1
        i = k
    return _dedupe(chunks)


def _dedupe(chunks: list[Span]) -> list[Span]:
    # Recursive splitting with overlap can yield a chunk contained in its neighbour; drop those.
    out: list[Span] = []
    for c in chunks:
        if out and out[-1].start <= c.start and c.end <= out[-1].end:
            continue
        out.append(c)
    return out
