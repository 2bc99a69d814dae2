import random

import pytest

from rag.ingest.chunking import chunk_text
from rag.tokens import encoding
from tests.conftest import SEEDS

SEED_TEXT = next(SEEDS.iterdir()).read_text(encoding="utf-8")


def samples() -> list[str]:
    rnd = random.Random(7)
    words = ["gas", "Serbia", "électricité", "上海", "pipeline", "emoji🙂", "a", "x" * 40, "3.14", "e.g."]
    text = " ".join(rnd.choice(words) for _ in range(3000))
    return [
        SEED_TEXT,
        text,
        "One paragraph.\n\nTwo paragraphs.\n\n\n\nThree, after blank lines.   ",
        "no-spaces-" * 500,  # one giant "word": split by tokens
        "  leading and trailing whitespace  \n",
        "Line one\nline two\r\nline three\n" * 200,
    ]


@pytest.mark.parametrize("text", samples())
@pytest.mark.parametrize("size,overlap", [(32, 8), (128, 24), (300, 0)])
def test_spans_are_exact_and_within_budget(text: str, size: int, overlap: int) -> None:
    enc = encoding()
    chunks = chunk_text(text, enc, size, overlap)
    assert chunks, "non-empty text gives at least one chunk"
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.text == c.text.strip() and c.text
        assert len(enc.encode_ordinary(c.text)) <= size
    # Every non-space character is covered by some chunk, in order.
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)


def test_prefers_paragraph_and_sentence_boundaries() -> None:
    chunks = chunk_text(SEED_TEXT, encoding(), 128, 24)
    for c in chunks[:-1]:
        assert c.text[-1] in '.!?”"', f"chunk ends mid-sentence: {c.text[-40:]!r}"


def test_neighbours_overlap_when_sentences_are_small() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(200))
    chunks = chunk_text(text, encoding(), 64, 16)
    assert all(b.start < a.end for a, b in zip(chunks, chunks[1:], strict=False))


def test_never_exceeds_the_embedding_models_limit(embedder) -> None:  # type: ignore[no-untyped-def]
    # Digits are cheap in tiktoken but expensive in WordPiece: the model check must split further.
    text = " ".join(str(random.Random(1).randrange(10**9)) + "x9" for _ in range(2000))
    chunks = chunk_text(text, encoding(), 400, 0, embedder.count_tokens, embedder.max_tokens)
    assert all(embedder.count_tokens(c.text) <= embedder.max_tokens for c in chunks)
    assert all(text[c.start : c.end] == c.text for c in chunks)
