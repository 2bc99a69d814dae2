"""`rag serve` as a user runs it: a real subprocess on a free loopback port, the fake LLM over HTTP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.api_support import QUESTION
from tests.conftest import SEEDS, free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.servers import SECRET, rag_serve, serve_env


def env_for(data: Path, llm: FakeOpenAI, **extra: str) -> dict[str, str]:
    return serve_env(data, llm.base_url, **extra)


def test_rag_serve_on_loopback_says_it_has_no_keys(tmp_path: Path, fake_llm: FakeOpenAI) -> None:
    log = tmp_path / "serve.log"
    with rag_serve(env_for(tmp_path / "data", fake_llm), tmp_path, log) as server:
        port, url = server.port, server.url
        seed = SEEDS / "000_e525b34afe8532cd.txt"
        r = httpx.post(f"{url}/v1/documents", files={"files": (seed.name, seed.read_bytes())}, timeout=60)
        assert r.json()["results"][0]["status"] == "added"
        r = httpx.post(f"{url}/v1/ask", json={"question": QUESTION}, timeout=60)
        assert r.status_code == 200 and r.json()["citations"], r.text
    text = log.read_text()
    assert "no API keys configured (RAG_API_KEYS): listening on loopback 127.0.0.1 only" in text
    assert f"serving on http://127.0.0.1:{port}" in text
    assert "POST /v1/ask 200 total_ms=" in text and "retrieval_ms=" in text  # the request log, as deployed
    assert SECRET not in text and QUESTION not in text


def test_rag_serve_refuses_a_public_address_without_keys(tmp_path: Path, fake_llm: FakeOpenAI) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "rag", "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        env=env_for(tmp_path / "data", fake_llm),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "refusing to listen on 0.0.0.0 without API keys" in out.stderr and "RAG_API_KEYS" in out.stderr
