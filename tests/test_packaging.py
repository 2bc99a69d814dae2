"""The wheel carries everything `rag` needs: built with pip from a copy of the tree, installed into a
folder of its own, it finds its prompt templates and answers a seed question with no checkout in sight.

Installing into a fresh virtualenv (every dependency from the package index) takes minutes, so that
check is a script: `python bench/fresh_venv.py` (README, "Packaging")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, SEEDS
from tests.fakes.openai_server import FakeOpenAI

# What a clean clone does not hold: local state that must not leak into the wheel being tested.
_NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".git", ".venv", "data", "build", "*.egg-info", "__pycache__", ".*_cache", "node_modules", "results"
)


def build_wheel(tree: Path, out: Path) -> Path:
    """`pip wheel . --no-deps` on a copy of `tree`; the path of the wheel."""
    copy = out / "src"
    shutil.copytree(tree, copy, ignore=_NOT_IN_A_CLONE)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = out.glob("seedrag-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield build_wheel(ROOT, tmp_path_factory.mktemp("wheel"))


def test_wheel_holds_every_prompt_template_and_page_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = [p for p in (ROOT / "prompts").iterdir() if p.suffix in {".md", ".txt"}]
    assert templates
    for p in templates:
        assert f"rag/templates/{p.name}" in names, f"{p.name} is not in the wheel"
    for p in (ROOT / "api" / "static").iterdir():
        assert f"api/static/{p.name}" in names
    for p in (ROOT / "rag" / "text" / "stopwords").iterdir():  # read with importlib.resources
        assert f"rag/text/stopwords/{p.name}" in names
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "rag = rag.cli:main" in entry_points


def test_installed_wheel_answers_a_seed_question(wheel: Path, tmp_path: Path, fake_llm: FakeOpenAI) -> None:
    target, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},  # the checkout is not installed
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    # Only the installed copy on the path (dependencies come from this interpreter's site-packages), run
    # from a folder with no prompts/ in it.
    env = {
        **os.environ,
        "PYTHONPATH": str(target),
        "RAG_DATA_DIR": str(tmp_path / "data"),
        "OPENAI_BASE_URL": fake_llm.base_url,
        "OPENAI_API_KEY": "sk-test",
        "RAG_LLM_RETRIES": "0",
    }

    def rag(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "rag", *args], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120
        )

    where = subprocess.run(
        [sys.executable, "-c", "import rag.answering.prompts as p; print(p.__file__); print(p.DEFAULT_DIR)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    module, templates = where.stdout.split()
    assert Path(module).is_relative_to(target) and Path(templates) == target / "rag" / "templates"

    assert rag("ingest", "-q", str(SEEDS)).returncode == 0
    out = rag("ask", "--json", "What does Serbia want to import from Azerbaijan?")
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert not body["refused"] and "gas" in body["answer"] and body["citations"]


def test_prompts_dir_setting_overrides_the_installed_templates(tmp_path: Path, fake_llm: FakeOpenAI) -> None:
    from rag.answering.prompts import DEFAULT_DIR
    from rag.config import Settings

    custom = tmp_path / "my-prompts"
    shutil.copytree(DEFAULT_DIR, custom, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (custom / "no_passages.txt").write_text("Nothing on that in our files.", encoding="utf-8")
    env = {**os.environ, "RAG_PROMPTS_DIR": str(custom), "RAG_DATA_DIR": str(tmp_path / "data")}
    out = subprocess.run(
        [sys.executable, "-m", "rag", "ask", "--json", "Who won the 1966 World Cup?"],
        env={**env, "OPENAI_BASE_URL": fake_llm.base_url, "OPENAI_API_KEY": "sk-test"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["answer"] == "Nothing on that in our files."
    assert Settings(_env_file=None, prompts_dir=custom).prompts_dir == custom  # type: ignore[call-arg]

    (custom / "refusal.txt").unlink()
    out = subprocess.run(
        [sys.executable, "-m", "rag", "ask", "Who won?"], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode != 0 and f"{custom / 'refusal.txt'} is missing" in out.stderr
