"""Two processes writing one index: the second waits for the first, and the index stays whole."""

import os
import subprocess
import sys
import threading
from pathlib import Path

from rag.config import Settings
from rag.index.embeddings import MiniLMEmbedder
from rag.index.locking import WriterLock
from rag.pipeline import build
from tests.conftest import SEEDS
from tests.fakes.openai_server import FakeOpenAI

HOLD = """
import sys
from pathlib import Path
from rag.index.locking import WriterLock
with WriterLock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_a_lock_held_by_another_process_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "write.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        got = threading.Event()

        def take() -> None:
            with WriterLock(path):
                got.set()

        waiter = threading.Thread(target=take, daemon=True)
        waiter.start()
        assert not got.wait(1.0), "took a lock another process holds"
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert got.wait(30), "never got the lock after the other process let it go"
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_is_reentrant_within_a_thread(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path / "write.lock")
    with lock, lock:  # an upload holds it around an ingest that takes it again
        pass
    with lock:
        pass


def test_two_ingests_at_once_leave_one_consistent_index(
    tmp_path: Path, settings: Settings, embedder: MiniLMEmbedder, fake_llm: FakeOpenAI
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for p in SEEDS.iterdir():
        (docs / p.name).write_bytes(p.read_bytes())
    for i in range(12):
        text = "\n\n".join(
            f"Report {i}, part {j}: the turbine at site {i} made {j * 7 + i} megawatt hours." for j in range(30)
        )
        (docs / f"report-{i}.txt").write_text(text, encoding="utf-8")
    env = {
        **os.environ,
        "RAG_DATA_DIR": str(settings.data_dir),
        "OPENAI_BASE_URL": fake_llm.base_url,
        "OPENAI_API_KEY": "sk-test",
    }
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "rag", "ingest", str(docs)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [r.communicate(timeout=300) for r in runs]
    for r, (_, err) in zip(runs, outs, strict=True):
        assert r.returncode == 0, err
    # One of them did the work; the other waited, then found everything already stored.
    assert sum("13 added" in out for out, _ in outs) == 1, outs
    assert sum("13 unchanged" in out for out, _ in outs) == 1, outs

    pipe = build(settings, embedder=embedder)
    try:
        vector_ids = set(pipe.vectors.collection.get(include=[])["ids"])
        keyword_ids = set(pipe.keywords.chunk_sources())
        assert vector_ids == keyword_ids and pipe.keywords.count() == len(keyword_ids)
        assert len(pipe.keywords.records()) == 13
        assert pipe.retriever.search("turbine at site 7 megawatt hours", floor=-1)
    finally:
        pipe.close()
