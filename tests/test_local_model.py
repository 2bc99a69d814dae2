"""The local model's one lifecycle (rag/llm/local.py), with a stand-in for llama.cpp that speaks its HTTP:
two processes starting it at once share one server, and a foreign server on its port is an error for every
command that needs the model."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import SEEDS, free_port
from tests.servers import serve_env

STAND_IN = [sys.executable, "-m", "tests.fakes.llama_server"]

# One `rag` process that needs the model: it enters the lifecycle, says whether it started or shared the
# model, and keeps it until told to end (a line on stdin).
STARTER = """
import sys
from rag.config import Settings
from rag.llm.local import local_model
with local_model(Settings(), command=sys.argv[1:]) as server:
    print("started" if server.proc else "shared", flush=True)
    sys.stdin.readline()
"""


def local_env(tmp_path: Path, port: int, name: str = "data") -> dict[str, str]:
    env = serve_env(tmp_path / name, "", RAG_LOCAL_LLM_PORT=str(port), RAG_MODELS_DIR=str(tmp_path / "models"))
    for key in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        env.pop(key)
    return env


@contextmanager
def stand_in(port: int, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([*STAND_IN, "--port", str(port), "--load-seconds", "0", *args], stderr=subprocess.PIPE)
    try:
        import httpx

        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                proc.wait(0.1) if proc.poll() is not None else None
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


def test_two_processes_starting_the_model_at_once_share_one(tmp_path: Path) -> None:
    port = free_port()
    # Different data dirs (a `rag serve` and a `rag ask` of another project): the model's port is what they share.
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", STARTER, *STAND_IN],
            env=local_env(tmp_path, port, f"data{i}"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    try:
        said = sorted((p.stdout.readline().strip() if p.stdout else "") for p in starters)
        errors = [p.stderr.read() if p.stderr and p.poll() is not None else "" for p in starters]
        assert said == ["shared", "started"], (said, errors)
    finally:
        for p in starters:
            if p.stdin:
                p.stdin.close()
            p.wait(30)
    assert [p.returncode for p in starters] == [0, 0]


def qa_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "qa"
    folder.mkdir()
    text = next(SEEDS.iterdir()).read_text(encoding="utf-8")
    (folder / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "title": "", "text": text}) + "\n")
    question = {"_id": "q1", "text": "What does Serbia import?", "answers": ["gas"], "metadata": {"doc": "d1"}}
    (folder / "queries.jsonl").write_text(json.dumps(question) + "\n")
    return folder


@pytest.mark.parametrize("command", ["ask", "serve", "slack --socket", "eval-answers"])
def test_a_foreign_server_on_the_model_port_is_an_error_for_every_command(tmp_path: Path, command: str) -> None:
    port = free_port()
    env = local_env(tmp_path, port) | {"SLACK_BOT_TOKEN": "xoxb-x", "SLACK_APP_TOKEN": "xapp-x"}
    args = {
        "ask": ["ask", "What does Serbia want to import?"],
        "serve": ["serve", "--port", str(free_port())],
        "slack --socket": ["slack", "--socket"],
        "eval-answers": ["eval-answers", "-q", str(qa_folder(tmp_path))],
    }[command]
    with stand_in(port, "--ctx", "999"):  # llama.cpp, but not with our context size
        out = subprocess.run(
            [sys.executable, "-m", "rag", *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    assert f"another server holds 127.0.0.1:{port}" in out.stderr and "context 999" in out.stderr, out.stderr[-2000:]
