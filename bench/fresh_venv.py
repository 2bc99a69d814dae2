"""A wheel built from a clean copy of the tree, installed into a fresh virtualenv, answers a seed question.

What tests/test_packaging.py cannot afford in CI: the fresh venv (no system site-packages) gets every
dependency from the package index pip is configured with, which takes minutes. Then `rag ingest seeds/`
and `rag ask --json` run from a folder with no checkout in it. The LLM is the OpenAI-compatible fake of
tests/fakes on loopback (the local model is a 1.1 GB optional extra, `.[local]`), so nothing but the
package index is reached.

Prints a table of the steps' times and writes bench/results/fresh_venv.json. Exit status 1 if a step fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.openai_server import FakeOpenAI  # noqa: E402
from tests.test_packaging import build_wheel  # noqa: E402

QUESTION = "What does Serbia want to import from Azerbaijan?"


class StepFailed(Exception):
    pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "fresh_venv.json"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="seedrag-fresh-venv-"))
    steps: list[tuple[str, float, bool, str]] = []

    # Nothing of this checkout or its venv may leak in: with PYTHONPATH on the tree, pip would take a stray
    # seedrag.egg-info there for an installed seedrag and skip installing the wheel.
    clean = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}

    def step(name: str, cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        kw.setdefault("env", clean)
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, **kw)  # type: ignore[call-overload]
        ok = done.returncode == 0
        steps.append((name, time.perf_counter() - t0, ok, "" if ok else (done.stderr or done.stdout)[-2000:]))
        if not ok:  # the next steps need this one
            raise StepFailed(name)
        return done  # type: ignore[no-any-return]

    answer: dict[str, object] = {}
    try:
        t0 = time.perf_counter()
        wheel = build_wheel(ROOT, work)
        steps.append(("pip wheel . --no-deps (clean copy)", time.perf_counter() - t0, True, ""))
        venv = work / "venv"
        step("python -m venv (no system site-packages)", [sys.executable, "-m", "venv", str(venv)])
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        step("pip install the wheel and its dependencies", [*pip, str(wheel)])
        elsewhere = work / "elsewhere"
        elsewhere.mkdir()
        with FakeOpenAI() as llm:
            env = {
                **clean,
                "RAG_DATA_DIR": str(work / "data"),
                "OPENAI_BASE_URL": llm.base_url,
                "OPENAI_API_KEY": "sk-fake",
            }
            rag = str(venv / "bin" / "rag")
            step("rag ingest seeds/", [rag, "ingest", "-q", str(ROOT / "seeds")], cwd=elsewhere, env=env)
            asked = step("rag ask --json (seed question)", [rag, "ask", "--json", QUESTION], cwd=elsewhere, env=env)
        answer = json.loads(asked.stdout)
        good = not answer["refused"] and bool(answer["citations"])
        steps.append(("answer cited and not refused", 0.0, good, "" if good else asked.stdout[-2000:]))
    except StepFailed:
        pass

    print(f"{'step':<48} {'seconds':>8}  ok")
    for name, seconds, ok, _ in steps:
        print(f"{name:<48} {seconds:8.1f}  {'yes' if ok else 'NO'}")
    for name, _, ok, detail in steps:
        if not ok:
            print(f"\n{name} failed:\n{detail}", file=sys.stderr)
    print(f"answer: {answer.get('answer')!r}")
    result = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "steps": [{"step": n, "seconds": round(s, 1), "ok": ok} for n, s, ok, _ in steps],
        "answer": answer.get("answer"),
        "citations": len(answer.get("citations") or []),  # type: ignore[arg-type]
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(ok for _, _, ok, _ in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
