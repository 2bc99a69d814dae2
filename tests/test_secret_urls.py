"""Servers are named without the credentials in their URLs (issue 19, 3): what a read-only key is told when
the LLM fails, /readyz, the settings shown, and the errors of the LLM client and the reranker."""

from __future__ import annotations

import httpx

from rag.config import public_url
from rag.llm.client import make_llm
from rag.pipeline import Pipeline
from rag.retrieval.rerank import Reranker, RerankError
from tests.api_support import QUESTION, serve_api
from tests.conftest import SEEDS, free_port, make_settings

SECRET = "s3cr3t-pass"


def test_public_url_keeps_the_server_and_drops_the_credentials() -> None:
    assert public_url(f"http://user:{SECRET}@llm.internal:8080/v1") == "http://llm.internal:8080/v1"
    assert public_url("https://api.example.com/v1?api-key=k3y") == "https://api.example.com/v1"
    assert public_url("http://[::1]:8081/v1") == "http://[::1]:8081/v1"
    assert public_url("http://127.0.0.1:8081/v1") == "http://127.0.0.1:8081/v1"


def test_a_failing_llm_is_named_without_its_credentials(pipeline: Pipeline) -> None:
    pipeline.ingestor.ingest([SEEDS])
    down = f"http://admin:{SECRET}@127.0.0.1:{free_port()}/v1"  # nothing listens there
    settings = make_settings(pipeline.settings.data_dir, down)
    assert SECRET not in str(settings.shown())
    pipeline.llm = make_llm(settings)
    pipeline.answerer.llm = pipeline.llm
    reader = {"Authorization": "Bearer reader"}
    with serve_api(pipeline, llm_base_url=down, api_keys="reader") as api:
        ask = httpx.post(f"{api.url}/v1/ask", json={"question": QUESTION}, headers=reader, timeout=30)
        chat = httpx.post(
            f"{api.url}/v1/chat/completions",
            json={"model": "seedrag", "messages": [{"role": "user", "content": QUESTION}]},
            headers=reader,
            timeout=30,
        )
        ready = httpx.get(f"{api.url}/readyz", headers=reader, timeout=30)
    for r in (ask, chat, ready):
        assert r.status_code in (503, 502), r.text
        assert SECRET not in r.text and "admin:" not in r.text, r.text
    message = ask.json()["error"]["message"]
    assert "LLM server at http://127.0.0.1:" in message and "RAG_LLM_BASE_URL" in message
    assert "LLM server at http://127.0.0.1:" in ready.json()["checks"]["llm"]["error"]


def test_reranker_errors_name_the_server_without_credentials() -> None:
    url = f"http://user:{SECRET}@127.0.0.1:{free_port()}/v1/rerank"
    try:
        Reranker(url, timeout=2).scores("q", ["a"])
    except RerankError as e:
        assert SECRET not in str(e) and "reranker at http://127.0.0.1:" in str(e)
    else:
        raise AssertionError("a reranker nobody listens for answered")
