"""Shared fixtures: real components (Chroma on disk, the ONNX embedder, uvicorn on loopback) and a fake
OpenAI-compatible server over real HTTP where a test needs scripted LLM answers."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn

from rag.config import Settings
from rag.index.embeddings import MiniLMEmbedder
from rag.pipeline import Pipeline, build
from tests.fakes.openai_server import FakeOpenAI
from tests.postgres import postgres_server, postgres_url  # noqa: F401  (fixtures, shared by every test module)

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(scope="session")
def fake_llm_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake_llm(fake_llm_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    fake_llm_server.reset()
    yield fake_llm_server
    fake_llm_server.reset()


def make_settings(data_dir: Path, llm_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {"llm_retries": 0, "llm_timeout": 10, **overrides}
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        llm_base_url=llm_url,
        llm_api_key="test-key",  # type: ignore[arg-type]
        **values,  # type: ignore[arg-type]
    )


@pytest.fixture
def settings(tmp_path: Path, fake_llm: FakeOpenAI) -> Settings:
    return make_settings(tmp_path / "data", fake_llm.base_url)


@pytest.fixture
def pipeline(settings: Settings, embedder: MiniLMEmbedder) -> Iterator[Pipeline]:
    pipe = build(settings, embedder=embedder)
    yield pipe
    pipe.close()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A folder with the seed article, for tests that change or delete files."""
    folder = tmp_path / "docs"
    shutil.copytree(SEEDS, folder)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """The real app under a real uvicorn server on a free loopback port, in a background thread."""

    def __init__(self, app: object) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    """Wait for something a test caused to happen; fail with `what` if it never does. The limit is generous
    on purpose: it only stops a test that would otherwise hang, it measures nothing."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@pytest.fixture
def live(pipeline: Pipeline) -> Iterator[LiveServer]:
    """The API on loopback with the seeds ingested and the fake LLM behind it."""
    from api.app import create_app

    pipeline.ingestor.ingest([SEEDS])
    with LiveServer(create_app(pipeline.settings, pipeline)) as server:
        yield server
