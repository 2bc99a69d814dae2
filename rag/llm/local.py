"""The local model's lifecycle, one way for every command: `local_model(settings)` around the work.

`rag serve`, `rag ask`, `rag slack --socket` and `rag eval-answers` all enter it. Inside, the local llama.cpp
server answers on its port: started by this process (and stopped when the block ends, however it ends), or
shared with the process that started it. Starters take turns through a file lock beside the model, so a second
one waits while the first is still loading and then shares it, instead of racing for the port. A server on the
port that is not the local model with our context size is an error, never silently used.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

from rag.config import Settings
from rag.llm.client import LLMError
from rag.llm.model_files import MODEL_NAME, ensure_model

log = logging.getLogger(__name__)
START_SECONDS = 180.0


@contextlib.contextmanager
def local_model(
    settings: Settings, on_start: Callable[[], None] | None = None, command: list[str] | None = None
) -> Iterator[LocalServer | None]:
    """The local model running for the length of the block (None when the settings name another LLM server).

    `on_start` is called when this process has to start it (a few seconds); `command` replaces the server's
    command line (`python -m rag.llm.server`), for a stand-in that speaks the same HTTP."""
    if not settings.uses_local_llm:
        log.info("LLM: %s (model %s)", settings.llm_base_url or "OpenAI", settings.llm_model or "default")
        yield None
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    server = LocalServer(settings, settings.data_dir / "llm-server.log", command)
    with sigterm_as_exit():
        with starter_lock(settings):
            started = server.start(on_start)
        try:
            yield server
        finally:
            if started:
                server.stop()


@contextlib.contextmanager
def starter_lock(settings: Settings, timeout: float = START_SECONDS) -> Iterator[None]:
    """One starter at a time for the model's port, across processes: held while a server is checked or started."""
    port = settings.local_llm_port
    try:
        settings.models_dir.mkdir(parents=True, exist_ok=True)
        path = settings.models_dir / f".llm-server-{port}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:  # a read-only models dir (installed system-wide): the port is the machine's, so is /tmp
        path = Path(tempfile.gettempdir()) / f"seedrag-llm-server-{port}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + timeout
        waiting = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waiting:
                    log.info("another process is starting the local model (%s): waiting to share it", path)
                    waiting = True
                if time.monotonic() > deadline:
                    raise LLMError(
                        f"another process held {path} for {timeout:.0f} s while starting the local model; "
                        "see its llm-server.log, or stop it",
                        f"{settings.local_llm_host}:{port}",
                        "timeout",
                    ) from None
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


class LocalServer:
    """The local llama.cpp server as a child process (`python -m rag.llm.server`)."""

    def __init__(self, settings: Settings, log_path: Path | None = None, command: list[str] | None = None) -> None:
        self.settings = settings
        self.health_url = f"http://{settings.local_llm_host}:{settings.local_llm_port}/health"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = log_path
        self.command = command

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.health_url, timeout=1) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def props(self) -> dict[str, object]:
        """What the server on our port says it runs (llama.cpp's /props); {} when it does not say."""
        url = self.health_url.removesuffix("/health") + "/props"
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                data = json.loads(r.read())
        except (urllib.error.URLError, OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def check_reusable(self) -> None:
        """A server already on our port is shared only if it runs our model with our context size; anything
        else (an old orphan started with other settings, another program) is an error that says so."""
        props = self.props()
        settings = props.get("default_generation_settings")
        n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
        model = Path(str(props.get("model_path", ""))).name
        where = f"{self.settings.local_llm_host}:{self.settings.local_llm_port}"
        if model != f"{MODEL_NAME}.gguf" or n_ctx != self.settings.local_llm_ctx:
            raise LLMError(
                f"another server holds {where} (model {model or 'unknown'}, context {n_ctx}), not the local model "
                f"with RAG_LOCAL_LLM_CTX={self.settings.local_llm_ctx}: stop it, or set RAG_LOCAL_LLM_PORT",
                self.health_url,
                "port in use",
            )

    def start(self, on_start: Callable[[], None] | None = None, timeout: float = START_SECONDS) -> bool:
        """Start the server unless ours already answers; True if this call started it."""
        if self.healthy():
            self.check_reusable()
            log.info("local LLM server already running at %s: sharing it", self.health_url)
            return False
        if self.command is None:
            ensure_model(self.settings.models_dir)  # fail here, with the fix, rather than in the child
        if on_start is not None:
            on_start()
        out = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        s = self.settings
        args = ["--host", s.local_llm_host, "--port", str(s.local_llm_port), "--ctx", str(s.local_llm_ctx)]
        args += ["--parallel", str(s.local_llm_parallel), "--cache-mb", str(s.local_llm_cache_mb)]
        # The child ends itself when this process dies, however it dies (kill -9 included).
        args += ["--parent-pid", str(os.getpid())]
        self.proc = subprocess.Popen(
            [*(self.command or [sys.executable, "-m", "rag.llm.server"]), *args], stdout=out, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LLMError(
                    f"local LLM server exited with code {self.proc.returncode} while starting"
                    + (f"; see {self.log_path}" if self.log_path else ""),
                    self.health_url,
                    "exited",
                )
            if self.healthy():
                log.info("local LLM server up at %s (pid %d)", self.health_url, self.proc.pid)
                return True
            time.sleep(0.3)
        self.stop()
        raise LLMError(f"local LLM server did not become ready within {timeout:.0f}s", self.health_url, "timeout")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


@contextlib.contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """SIGTERM (systemd, Docker, Kubernetes) raises SystemExit, so `finally` blocks run and the local model
    server we started is stopped; by default SIGTERM ends Python at once and leaves it running. uvicorn
    restores this handler when it stops and re-sends the signal to it, which lands here too."""

    def exit_(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
