"""`rag serve` as a user runs it: a real subprocess on a free loopback port, the fake LLM over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.api_support import QUESTION
from tests.conftest import SEEDS, free_port
from tests.fakes.openai_server import FakeOpenAI

SECRET = "sk-test-secret-9876"


def env_for(data: Path, llm: FakeOpenAI, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_", "SLACK_"))}
    return {
        **env,
        "RAG_DATA_DIR": str(data),
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_API_KEY": SECRET,
        "RAG_LLM_RETRIES": "0",
        **extra,
    }


def test_rag_serve_on_loopback_says_it_has_no_keys(tmp_path: Path, fake_llm: FakeOpenAI) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag", "serve", "--port", str(port)],
            env=env_for(tmp_path / "data", fake_llm),
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "rag serve did not answer /healthz within 60 s"
            time.sleep(0.2)
        seed = SEEDS / "000_e525b34afe8532cd.txt"
        r = httpx.post(f"{url}/v1/documents", files={"files": (seed.name, seed.read_bytes())}, timeout=60)
        assert r.json()["results"][0]["status"] == "added"
        r = httpx.post(f"{url}/v1/ask", json={"question": QUESTION}, timeout=60)
        assert r.status_code == 200 and r.json()["citations"], r.text
    finally:
        proc.terminate()
        proc.wait(20)
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
