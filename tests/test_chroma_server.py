"""Server mode: the same pipeline against a real `chroma run` on loopback."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.index.embeddings import MiniLMEmbedder
from rag.index.vectors import StoreUnavailable
from rag.pipeline import build
from tests.conftest import SEEDS, free_port, make_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.servers import chroma_run


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    with chroma_run(tmp_path / "chroma-server") as url:
        yield url


def test_ingest_and_answer_through_a_chroma_server(
    chroma_server: str, tmp_path: Path, embedder: MiniLMEmbedder, fake_llm: FakeOpenAI
) -> None:
    settings = make_settings(tmp_path / "data", fake_llm.base_url, chroma_url=chroma_server)
    pipe = build(settings, embedder=embedder)
    report = pipe.ingestor.ingest([SEEDS])
    assert report.count("added") == 1 and pipe.vectors.count() > 0
    assert not (tmp_path / "data" / "chroma").exists(), "nothing written to the local Chroma folder"
    answer = pipe.answerer.ask("What does Serbia want to import from Azerbaijan?")
    assert answer.citations and not answer.refused

    # A second client (another process, another machine) sees the same collection.
    again = build(settings, embedder=embedder)
    assert again.vectors.count() == pipe.vectors.count()
    assert again.ingestor.ingest([SEEDS]).count("unchanged") == 1


def test_unreachable_chroma_server_is_a_clear_error(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    settings = make_settings(tmp_path / "data", "http://127.0.0.1:9/v1", chroma_url=url)
    with pytest.raises(StoreUnavailable, match="chroma run"):
        build(settings, embedder=embedder)
