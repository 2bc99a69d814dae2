"""The HTTP API over real HTTP: the app under uvicorn on a free loopback port, the real pipeline (Chroma on
disk, the ONNX embedder), and an OpenAI-compatible fake LLM where answers must be scripted."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from rag.answering.answerer import Answer
from rag.index.embeddings import MiniLMEmbedder
from rag.pipeline import Pipeline, build
from tests.api_support import QUESTION, BrokenStreamLLM, serve_api, sse_events
from tests.conftest import SEEDS, LiveServer, free_port, make_settings, wait_for
from tests.fakes.openai_server import FakeOpenAI, default_reply


@pytest.fixture
def seeded(pipeline: Pipeline) -> Pipeline:
    pipeline.ingestor.ingest([SEEDS])
    return pipeline


def assert_json_error(r: httpx.Response, status: int, type_: str) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["error"]["type"] == type_, body
    assert "Traceback" not in r.text
    return str(body["error"]["message"])


# --- /v1/ask ----------------------------------------------------------------------------------------
def test_ask_returns_the_same_json_as_rag_ask(live: LiveServer) -> None:
    r = httpx.post(f"{live.url}/v1/ask", json={"question": QUESTION, "top_k": 3}, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    fields = Answer("q", "a", [], False, "m", 0.0, 0.0).to_dict().keys()  # what `rag ask --json` prints
    assert set(body) == set(fields) | {"answer_id"}  # plus the id that POST /v1/feedback rates it by
    assert not body["refused"] and body["model"] == "gpt-4o-mini"
    assert body["retrieval_ms"] > 0 and body["generation_ms"] > 0
    # The tokens the fake server reported, added over the draft and the checks' calls (as chat completions say).
    usage = body["usage"]
    assert usage["completion_tokens"] > 0 and usage["prompt_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert 1 <= len(body["passages"]) <= 3
    for c in body["citations"]:
        assert f"[{c['id']}]" in body["answer"]
        assert Path(c["source"]).read_text(encoding="utf-8")[c["start"] : c["end"]] == c["text"]


def test_ask_stream_sends_sources_then_tokens_then_done(live: LiveServer, fake_llm: FakeOpenAI) -> None:
    with httpx.stream("POST", f"{live.url}/v1/ask/stream", json={"question": QUESTION}, timeout=30) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r)
    names = [name for name, _ in events]
    assert names[0] == "sources" and names[-1] == "done"
    assert set(names[1:-1]) == {"token"} and len(names) > 3, names
    sources, done = events[0][1], events[-1][1]
    assert sources["passages"] and sources["standalone_question"] == QUESTION and sources["retrieval_ms"] > 0
    raw = "".join(data["text"] for name, data in events if name == "token")
    answer_request = next(r for r in fake_llm.requests if "response_format" in r)
    # The model replied in JSON (evidence ids, then text): the tokens are the claim's words, in order, never JSON.
    assert raw == json.loads(default_reply(answer_request["messages"], structured=True))["claims"][0]["text"]
    assert "{" not in raw and "evidence" not in raw
    assert done["answer"] and not done["refused"]
    assert done["answer"].startswith(raw.rstrip("."))  # the checked answer is what was streamed, cited
    quote = done["citations"][0]["quote"]
    assert (
        quote
        and Path(done["citations"][0]["source"]).read_text(encoding="utf-8")[quote["start"] : quote["end"]]
        == quote["text"]
    )
    cited = {c["chunk_id"] for c in done["citations"]}
    assert cited and cited <= {p["chunk_id"] for p in sources["passages"]}


def test_follow_up_is_rewritten_before_retrieval(live: LiveServer, fake_llm: FakeOpenAI) -> None:
    history = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "Serbia would import gas from Azerbaijan [2]."},
    ]
    r = httpx.post(f"{live.url}/v1/ask", json={"question": "and what about oil?", "history": history}, timeout=30)
    assert r.status_code == 200, r.text
    standalone = r.json()["standalone_question"]
    # The fake's rewrite names the earlier question, as a real model names its subject.
    assert standalone.startswith("and what about oil?") and "Azerbaijan" in standalone
    condense, answer = fake_llm.requests[0]["messages"][-1]["content"], fake_llm.requests[1]["messages"][-1]["content"]
    assert "Standalone question:" in condense and f"user: {QUESTION}" in condense
    assert f"Question: {standalone}" in answer  # retrieval and answering used the rewritten question


# --- limits and malformed requests ------------------------------------------------------------------
def test_limits_and_malformed_requests_get_json_4xx(seeded: Pipeline) -> None:
    with serve_api(seeded, max_question_chars=200, max_request_kb=4) as api:
        url = f"{api.url}/v1/ask"
        msg = assert_json_error(httpx.post(url, json={"question": "x" * 201}), 413, "too_large")
        assert "RAG_MAX_QUESTION_CHARS" in msg
        for top_k in (0, 21, "many"):
            msg = assert_json_error(httpx.post(url, json={"question": "hi", "top_k": top_k}), 422, "invalid_request")
            assert msg.startswith("top_k:")
        msg = assert_json_error(
            httpx.post(url, content=b'{"question": ', headers={"content-type": "application/json"}),
            422,
            "invalid_request",
        )
        assert "not valid JSON" in msg
        assert "question" in assert_json_error(httpx.post(url, json={"top_k": 2}), 422, "invalid_request")
        assert_json_error(httpx.post(url, json={"question": "   "}), 422, "invalid_request")
        assert_json_error(httpx.post(url, json={"question": "hi", "history": [{"role": "x"}]}), 422, "invalid_request")
        big = {"question": "hi", "history": [{"role": "user", "content": "y" * 5000}]}
        assert "RAG_MAX_REQUEST_KB" in assert_json_error(httpx.post(url, json=big), 413, "too_large")

        def chunked() -> Iterator[bytes]:  # no Content-Length: the limit must count bytes as they arrive
            yield b'{"question": "hi", "history": [{"role": "user", "content": "'
            for _ in range(10):
                yield b"y" * 1000
            yield b'"}]}'

        r = httpx.post(url, content=chunked(), headers={"content-type": "application/json"})
        assert_json_error(r, 413, "too_large")
        assert_json_error(httpx.get(url), 405, "method_not_allowed")
        assert_json_error(httpx.get(f"{api.url}/v1/nothing-here"), 404, "not_found")
        # Still serving after all that.
        assert httpx.post(url, json={"question": QUESTION}, timeout=30).status_code == 200


# --- the LLM failing ---------------------------------------------------------------------------------
def test_llm_error_gives_502_with_passages_and_the_server_keeps_serving(live: LiveServer, fake_llm: FakeOpenAI) -> None:
    fake_llm.status = 500
    r = httpx.post(f"{live.url}/v1/ask", json={"question": QUESTION}, timeout=30)
    msg = assert_json_error(r, 502, "llm_unavailable")
    assert "HTTP 500" in msg and fake_llm.base_url in msg
    assert r.json()["passages"] and r.json()["passages"][0]["text"]

    with httpx.stream("POST", f"{live.url}/v1/ask/stream", json={"question": QUESTION}, timeout=30) as s:
        events = sse_events(s)
    assert [name for name, _ in events] == ["sources", "error"]
    error = events[1][1]
    assert error["error"]["type"] == "llm_unavailable" and error["error"]["status"] == 502
    assert error["passages"] == events[0][1]["passages"] and error["passages"]

    ready = httpx.get(f"{live.url}/readyz", timeout=10)
    assert ready.status_code == 503 and ready.json()["checks"]["llm"]["ok"] is False

    fake_llm.status = None
    assert httpx.post(f"{live.url}/v1/ask", json={"question": QUESTION}, timeout=30).status_code == 200
    # Readiness is re-checked at most every 5 s (a flood of probes costs one check per interval).
    deadline = time.monotonic() + 8
    while httpx.get(f"{live.url}/readyz", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "readyz did not recover after the LLM did"
        time.sleep(0.5)


def test_llm_unreachable_gives_503_and_readyz_says_which_check_failed(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    pipe = build(make_settings(tmp_path / "data", dead), embedder=embedder)
    pipe.ingestor.ingest([SEEDS])
    try:
        with serve_api(pipe) as api:
            r = httpx.post(f"{api.url}/v1/ask", json={"question": QUESTION}, timeout=30)
            msg = assert_json_error(r, 503, "llm_unavailable")
            assert "unreachable" in msg and "OPENAI_BASE_URL" in msg
            assert r.json()["passages"]
            ready = httpx.get(f"{api.url}/readyz", timeout=10)
            assert ready.status_code == 503
            checks = ready.json()["checks"]
            assert checks["index"] == {"ok": True, "chunks": 5, "documents": 1}
            assert checks["embedding_model"]["ok"] is True
            assert checks["llm"]["ok"] is False and "unreachable" in checks["llm"]["error"]
            assert httpx.get(f"{api.url}/healthz").json() == {"status": "ok"}
    finally:
        pipe.close()


def test_model_failing_mid_answer_ends_the_stream_with_an_error_event(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    with BrokenStreamLLM() as broken:
        pipe = build(make_settings(tmp_path / "data", broken.base_url), embedder=embedder)
        pipe.ingestor.ingest([SEEDS])
        try:
            with serve_api(pipe) as api:
                with httpx.stream("POST", f"{api.url}/v1/ask/stream", json={"question": QUESTION}, timeout=30) as r:
                    events = sse_events(r)
                names = [n for n, _ in events]
                assert names == ["sources", "token", "token", "token", "error"], names
                error = events[-1][1]
                assert error["error"]["type"] == "llm_unavailable" and error["passages"]
                assert "incomplete" in error["error"]["message"]
                r2 = httpx.post(f"{api.url}/v1/ask", json={"question": QUESTION}, timeout=30)
                assert_json_error(r2, 502, "llm_unavailable")
                assert r2.json()["passages"]
        finally:
            pipe.close()


# --- health ------------------------------------------------------------------------------------------
def test_readyz_reports_each_check(live: LiveServer) -> None:
    r = httpx.get(f"{live.url}/readyz", timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ready"] is True
    assert body["checks"]["index"] == {"ok": True, "chunks": 5, "documents": 1}
    assert body["checks"]["embedding_model"] == {"ok": True, "name": "all-MiniLM-L6-v2-int8"}
    assert body["checks"]["llm"]["ok"] is True and body["checks"]["llm"]["model"] == "gpt-4o-mini"


# --- auth --------------------------------------------------------------------------------------------
def test_api_keys_guard_every_v1_endpoint(seeded: Pipeline) -> None:
    with serve_api(seeded, api_keys="first-key, second-key") as api:
        calls = [
            ("POST", "/v1/ask", {"question": QUESTION}),
            ("POST", "/v1/ask/stream", {"question": QUESTION}),
            ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": QUESTION}]}),
            ("GET", "/v1/models", None),
            ("GET", "/v1/documents", None),
            ("DELETE", "/v1/documents/0123456789abcdef", None),
        ]
        for method, path, body in calls:
            r = httpx.request(method, api.url + path, json=body)
            assert "Authorization: Bearer" in assert_json_error(r, 401, "unauthorized"), path
            assert r.headers["www-authenticate"] == "Bearer"
            r = httpx.request(method, api.url + path, json=body, headers={"Authorization": "Bearer wrong"})
            assert "not valid" in assert_json_error(r, 401, "unauthorized")
        upload = httpx.post(f"{api.url}/v1/documents", files={"files": ("a.txt", b"some text about gas")})
        assert_json_error(upload, 401, "unauthorized")
        assert not seeded.settings.uploads_dir.exists()  # refused before anything was stored

        good = {"Authorization": "Bearer second-key"}
        r = httpx.post(f"{api.url}/v1/ask", json={"question": QUESTION}, headers=good, timeout=30)
        assert r.status_code == 200 and r.json()["citations"]
        assert httpx.get(f"{api.url}/v1/documents", headers=good).json()["documents"][0]["chunks"] == 5
        # Liveness, readiness and the docs stay open: load balancers and people reading /docs have no key.
        assert httpx.get(f"{api.url}/healthz").status_code == 200
        assert httpx.get(f"{api.url}/readyz", timeout=10).status_code == 200
        assert httpx.get(f"{api.url}/openapi.json").status_code == 200


# --- concurrency -------------------------------------------------------------------------------------
def test_twenty_concurrent_asks_are_all_answered_correctly(
    live: LiveServer, fake_llm: FakeOpenAI, pipeline: Pipeline
) -> None:
    def reply(messages: list[dict[str, str]]) -> str:
        # Echo which request this is, so an answer that reached the wrong client would show.
        user = messages[-1]["content"]
        tag = user.split("Question: ", 1)[1].split(" ", 1)[0]
        return f"{tag}: Serbia would import gas from Azerbaijan [1]."

    fake_llm.reply = reply
    # The model holds every answer until all the generation slots are busy: served one at a time, the second
    # would never start and this test would stop at the wait below (what overlapped, not how long it took).
    fake_llm.hold = threading.Event()
    slots = pipeline.settings.generation_slots

    def ask(i: int) -> tuple[int, dict[str, object]]:
        r = httpx.post(f"{live.url}/v1/ask", json={"question": f"request{i} {QUESTION}", "top_k": 2}, timeout=90)
        return r.status_code, r.json()

    with ThreadPoolExecutor(20) as pool:
        futures = [pool.submit(ask, i) for i in range(20)]
        wait_for(lambda: fake_llm.in_flight >= min(slots, 2), "two answers were never written at once")
        fake_llm.hold.set()
        results = [f.result() for f in futures]
    for i, (status, body) in enumerate(results):
        assert status == 200, body
        assert body["question"] == f"request{i} {QUESTION}"
        assert str(body["answer"]).startswith(f"request{i}: Serbia would import gas"), body["answer"]
        assert body["citations"]
    assert fake_llm.most_in_flight >= 2


def test_a_slow_answer_does_not_stall_other_requests(live: LiveServer, fake_llm: FakeOpenAI) -> None:
    fake_llm.hold = threading.Event()  # the model "thinks" until this test lets it answer
    slow = threading.Thread(
        target=httpx.post, args=(f"{live.url}/v1/ask",), kwargs={"json": {"question": QUESTION}, "timeout": 90}
    )
    slow.start()
    wait_for(lambda: fake_llm.in_flight == 1, "the slow answer never reached the model")
    assert httpx.get(f"{live.url}/healthz", timeout=30).status_code == 200
    assert httpx.get(f"{live.url}/v1/documents", timeout=30).status_code == 200
    # Both were answered while the slow answer was still waiting on the model.
    assert fake_llm.in_flight == 1 and slow.is_alive()
    fake_llm.hold.set()
    slow.join(60)
    assert not slow.is_alive()


# --- logs and docs -----------------------------------------------------------------------------------
def test_one_log_line_per_request_with_timings_and_no_secrets(
    seeded: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-very-secret-key-123"
    with caplog.at_level(logging.INFO, logger="api"), serve_api(seeded, api_keys=secret) as api:
        headers = {"Authorization": f"Bearer {secret}"}
        r = httpx.post(f"{api.url}/v1/ask?token=abc", json={"question": QUESTION}, headers=headers, timeout=30)
        assert r.status_code == 200
        with httpx.stream("POST", f"{api.url}/v1/ask/stream", json={"question": QUESTION}, headers=headers) as s:
            sse_events(s)
        httpx.post(f"{api.url}/v1/ask", json={"question": QUESTION})  # 401
    lines = [r.getMessage() for r in caplog.records if r.name == "api"]
    asks = [line for line in lines if line.startswith("POST /v1/ask ")]
    assert len(asks) == 2, lines
    assert asks[0].startswith("POST /v1/ask 200 total_ms=")
    assert "retrieval_ms=" in asks[0] and "generation_ms=" in asks[0]
    assert asks[1].startswith("POST /v1/ask 401 ")
    streamed = [line for line in lines if line.startswith("POST /v1/ask/stream ")]
    assert len(streamed) == 1 and "generation_ms=" in streamed[0]
    # Everything the server logged (the test's own httpx client logs its URLs; it is not the server).
    everything = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert secret not in everything and "token=abc" not in everything and QUESTION not in everything


def test_openapi_docs_describe_every_endpoint_with_examples(live: LiveServer) -> None:
    assert "swagger" in httpx.get(f"{live.url}/docs").text.lower()
    spec = httpx.get(f"{live.url}/openapi.json").json()
    for path, method in [
        ("/v1/ask", "post"),
        ("/v1/ask/stream", "post"),
        ("/v1/chat/completions", "post"),
        ("/v1/models", "get"),
        ("/v1/documents", "get"),
        ("/v1/documents", "post"),
        ("/v1/documents/{document_id}", "delete"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ]:
        assert method in spec["paths"][path], path
    schemas = spec["components"]["schemas"]
    assert schemas["AskRequest"]["examples"][0]["question"] == QUESTION
    example = schemas["AskResponse"]["examples"][0]["citations"][0]
    text = (SEEDS / "000_e525b34afe8532cd.txt").read_text(encoding="utf-8")
    assert text[example["start"] : example["end"]] == example["text"]  # a real, checkable example
    assert "401" in spec["paths"]["/v1/ask"]["post"]["responses"]
