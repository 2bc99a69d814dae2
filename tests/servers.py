"""Real servers started by the tests as users start them: `chroma run` and `rag serve` as subprocesses on free
loopback ports, with the environment a deployment would give them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import free_port

SECRET = "sk-test-secret-9876"


@contextmanager
def chroma_run(path: Path) -> Iterator[str]:
    """A `chroma run` server keeping its files in `path`; yields its URL (for RAG_CHROMA_URL)."""
    port = free_port()
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    assert chroma, "chromadb's 'chroma' command is installed with the package"
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("chroma run did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def serve_env(data: Path, llm_url: str, **extra: str) -> dict[str, str]:
    """The environment of a `rag` process: this one's, minus any RAG_/OPENAI_/SLACK_ settings, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_", "SLACK_"))}
    return {
        **env,
        "RAG_DATA_DIR": str(data),
        "OPENAI_BASE_URL": llm_url,
        "OPENAI_API_KEY": SECRET,
        "RAG_LLM_RETRIES": "0",
        **extra,
    }


class RagServe:
    """`python -m rag serve` on a free loopback port; output in `log`."""

    def __init__(self, env: dict[str, str], cwd: Path, log: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.cwd = cwd
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "rag", "serve", "--port", str(self.port), *args],
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_healthy(self, timeout: float = 60) -> RagServe:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"rag serve did not answer /healthz within {timeout:.0f} s"
            time.sleep(0.1)

    def kill(self) -> None:
        """kill -9: no shutdown code runs, as when a machine dies."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def rag_serve(env: dict[str, str], cwd: Path, log: Path, *args: str) -> Iterator[RagServe]:
    server = RagServe(env, cwd, log, *args)
    try:
        yield server.wait_healthy()
    finally:
        server.stop()
