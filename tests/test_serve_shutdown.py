"""`rag serve` with the real local model (llama.cpp, ~2 s to start here): however it is stopped, the model
server it started goes with it, and a stranger on the model's port is not silently used."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port


def local_env(data: Path, llm_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_", "SLACK_"))}
    # A port of our own: 8081 may be held by someone else's model on a shared machine.
    return {**env, "RAG_DATA_DIR": str(data), "RAG_LOCAL_LLM_PORT": str(llm_port), "RAG_LOCAL_LLM_THREADS": "1"}


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def wait_until(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def rag_serve(tmp_path: Path, llm_port: int) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag", "serve", "--port", str(port)],
            env=local_env(tmp_path / "data", llm_port),
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz") or proc.poll() is not None, 120, "no start")
        assert proc.poll() is None, log.read_text()
        yield proc, port, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def model_server(pid: int) -> int:
    found = [c for c in children(pid) if "rag.llm.server" in Path(f"/proc/{c}/cmdline").read_text()]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_stopping_rag_serve_stops_the_model_server_it_started(tmp_path: Path, how: signal.Signals) -> None:
    llm_port = free_port()
    with rag_serve(tmp_path, llm_port) as (proc, _, log):
        child = model_server(proc.pid)
        assert answers(f"http://127.0.0.1:{llm_port}/health")
        proc.send_signal(how)
        proc.wait(30)
        # A guard against a hang, not a measure: the server exits at once on SIGTERM (rag/llm/server.py).
        wait_until(lambda: not alive(child), 60, f"the model server outlived rag serve ({how.name})")
    assert not answers(f"http://127.0.0.1:{llm_port}/health"), "the model's port is still held"


def test_a_different_server_on_the_model_port_is_an_error_not_silently_shared(tmp_path: Path) -> None:
    llm_port = free_port()
    env = local_env(tmp_path / "data", llm_port)
    stranger = subprocess.Popen(
        [sys.executable, "-m", "rag.llm.server", "--port", str(llm_port), "--ctx", "1024"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{llm_port}/health"), 120, "the stranger did not start")
        out = subprocess.run(
            [sys.executable, "-m", "rag", "serve", "--port", str(free_port())],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode != 0
        assert "another server holds" in out.stderr and "context 1024" in out.stderr, out.stderr[-2000:]
    finally:
        stranger.terminate()
        stranger.wait(20)
