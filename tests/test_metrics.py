"""GET /metrics, scraped over real HTTP after real requests: every counter moves by exactly what was done."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from api.metrics import llm_cause
from rag.llm.client import LLMError
from rag.pipeline import Pipeline
from tests.api_support import QUESTION, serve_api, sse_events
from tests.conftest import SEEDS, LiveServer
from tests.fakes.openai_server import REFUSAL, FakeOpenAI


def scrape(client: httpx.Client, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def test_counters_move_by_what_the_requests_did(live: LiveServer, fake_llm: FakeOpenAI) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as client:
        before = scrape(client)
        assert before[("seedrag_index_documents", ())] == 1 and before[("seedrag_index_chunks", ())] == 5

        assert not client.post("/v1/ask", json={"question": QUESTION}).json()["refused"]  # answered
        with client.stream("POST", "/v1/ask/stream", json={"question": QUESTION}) as r:  # answered, streamed
            assert sse_events(r)[-1][0] == "done"
        off_topic = {"question": "Which team won the 1966 football World Cup final at Wembley?"}
        assert client.post("/v1/ask", json=off_topic).json()["refused"]  # no passages: no LLM call
        fake_llm.reply = REFUSAL
        assert client.post("/v1/ask", json={"question": QUESTION}).json()["refused"]  # the model refused
        fake_llm.reply = "Penguins live at the South Pole and eat fish every single day [1][99]."
        withheld = client.post("/v1/ask", json={"question": QUESTION}).json()
        assert withheld["refused"] and withheld["removed_citations"] == {"invented": [99], "unsupported": [1]}
        fake_llm.reply, fake_llm.status = "unused", 500
        assert client.post("/v1/ask", json={"question": QUESTION}).status_code == 502  # LLM error
        fake_llm.status = None
        upload = client.post("/v1/documents", files=[("files", ("oil.txt", b"Serbia also buys Azerbaijani oil."))])
        assert upload.json()["results"][0]["status"] == "added"

        after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert moved("seedrag_answers_total", outcome="answered") == 2
    assert moved("seedrag_answers_total", outcome="no_passages") == 1
    assert moved("seedrag_answers_total", outcome="refused") == 1
    assert moved("seedrag_answers_total", outcome="withheld") == 1
    assert moved("seedrag_removed_citations_total", reason="invented") == 1
    assert moved("seedrag_removed_citations_total", reason="unsupported") == 1
    assert moved("seedrag_llm_errors_total", cause="http_500") == 1
    # Every question is retrieved, the failed one too; generation is timed for the four that reached the model.
    assert moved("seedrag_retrieval_seconds_count") == 6
    assert moved("seedrag_generation_seconds_count") == 4
    assert moved("seedrag_ingest_documents_total", status="added") == 1
    assert moved("seedrag_ingest_chunks_total") == 1
    assert after[("seedrag_index_documents", ())] == 2 and after[("seedrag_index_chunks", ())] == 6
    # The HTTP side, from prometheus-fastapi-instrumentator: by route template and status class.
    assert moved("http_requests_total", handler="/v1/ask", method="POST", status="2xx") == 4
    assert moved("http_requests_total", handler="/v1/ask", method="POST", status="5xx") == 1
    assert moved("http_requests_total", handler="/v1/ask/stream", method="POST", status="2xx") == 1
    assert moved("http_request_duration_seconds_count", handler="/v1/documents", method="POST") == 1


def test_metrics_need_a_key_when_keys_are_set(pipeline: Pipeline) -> None:
    pipeline.ingestor.ingest([SEEDS])
    with serve_api(pipeline, api_keys="k1") as api, httpx.Client(base_url=api.url, timeout=30) as client:
        r = client.get("/metrics")
        assert r.status_code == 401 and r.json()["error"]["type"] == "unauthorized"
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert "seedrag_index_chunks 5.0" in client.get("/metrics", headers={"Authorization": "Bearer k1"}).text


def test_llm_causes_become_few_labels() -> None:
    causes = {
        "timed out": "timeout",
        "unreachable (Connection refused to 10.0.0.7:8080)": "unreachable",
        "rejected the API key (HTTP 401)": "auth",
        "model not found (HTTP 404)": "model_not_found",
        "HTTP 503": "http_503",
        "RemoteProtocolError": "other",
    }
    for cause, label in causes.items():
        assert llm_cause(LLMError("msg", "http://x/v1", cause)) == label
