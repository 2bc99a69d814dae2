"""An optional reranker reached by URL (RAG_RERANK_URL), speaking the common `/rerank` shape.

Cohere, Jina, vLLM, Infinity and llama.cpp's server take `{"model", "query", "documents", "top_n"}` and
answer `{"results": [{"index", "relevance_score"}, ...]}`; a bare list of `{"index", "score"}` (as
text-embeddings-inference answers) is read too. No reranker weights install offline, so this is off
unless a server is configured.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import httpx

from rag.config import Settings, public_url

log = logging.getLogger(__name__)


class RerankError(Exception):
    """The reranker could not score the passages; the message names the server and the cause."""


class Reranker:
    def __init__(self, url: str, model: str | None = None, api_key: str | None = None, timeout: float = 30.0) -> None:
        self.url = url
        self.where = public_url(url)  # how errors name it: no credentials
        self.model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(timeout=timeout, headers=headers)

    def scores(self, query: str, documents: list[str]) -> list[float]:
        """One relevance score per document, in the documents' order (higher is more relevant)."""
        if not documents:
            return []
        body: dict[str, Any] = {"query": query, "documents": documents, "top_n": len(documents)}
        if self.model:
            body["model"] = self.model
        try:
            r = self.client.post(self.url, json=body)
        except httpx.TimeoutException:
            raise RerankError(f"reranker at {self.where} timed out (RAG_RERANK_TIMEOUT)") from None
        except httpx.HTTPError as e:
            raise RerankError(f"reranker at {self.where} is unreachable ({e}); check RAG_RERANK_URL") from None
        if r.status_code != 200:
            raise RerankError(f"reranker at {self.where} answered HTTP {r.status_code}: {r.text[:200]}")
        try:
            return _read_scores(r.json(), len(documents))
        # Whatever the reply does to the reader (an index of 1e999 overflows, JSON nested 100k deep recurses),
        # it is the reranker failing, and the caller falls back to the fused order.
        except Exception as e:
            cause = f"{type(e).__name__}: {str(e)[:100]}"
            raise RerankError(
                f"reranker at {self.where} answered in an unknown shape ({cause}): {r.text[:200]}"
            ) from None

    def order(self, query: str, items: list[tuple[str, str]]) -> list[str]:
        """The ids of (id, text) items, most relevant first; ties keep their given order."""
        scores = self.scores(query, [text for _, text in items])
        ranked = sorted(range(len(items)), key=lambda i: -scores[i])
        return [items[i][0] for i in ranked]

    def close(self) -> None:
        self.client.close()


def _read_scores(body: Any, n: int) -> list[float]:
    results = body["results"] if isinstance(body, dict) else body
    scores = [float("-inf")] * n  # a document the server left out ranks last
    for item in results:
        index = item["index"]
        if isinstance(index, float) and index.is_integer():  # 2.0 from a server that writes every number so
            index = int(index)
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < n:
            raise ValueError(f"index {str(index)[:20]} names no document")
        score = float(item["relevance_score"] if "relevance_score" in item else item["score"])
        if not math.isfinite(score):
            raise ValueError(f"score {score} is not a number")
        scores[index] = score
    return scores


def make_reranker(settings: Settings) -> Reranker | None:
    if not settings.rerank_url:
        return None
    key = settings.rerank_api_key.get_secret_value() if settings.rerank_api_key else None
    return Reranker(settings.rerank_url, settings.rerank_model, key, settings.rerank_timeout)
