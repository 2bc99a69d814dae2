"""Load benchmark of POST /v1/ask: the service's own overhead (HTTP, retrieval, prompt, citation check).

With `--llm fake` (the default) the LLM is the fast OpenAI-compatible test double of tests/fakes (answers in
about a millisecond), so what is measured is everything but generation; with `--llm local`, `rag serve` starts
the real local model (llama.cpp) and generation dominates: bound that run with --max-seconds. Three processes,
so that none steals another's CPU or GIL: `rag serve` (the real service, seeds uploaded through the API), the
fake LLM, and this client. Loopback only; bounded by --requests per level and --max-seconds per level.

Prints a table and writes bench/results/load.json (load-local.json for the local model): p50/p95/p99 latency,
throughput, errors (anything but 200, apart from the intended 503 `overloaded` of a full queue, counted
apart), the server-reported retrieval and generation times, and the resident memory of the service (with its
children: file readers, local model) before and after each level.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_e525b34afe8532cd.txt"
QUESTIONS = [
    "What does Serbia want to import from Azerbaijan?",
    "Who is Dusan Prorokovic?",
    "What is the Southern Gas Corridor for Serbia?",
    "Which fields of cooperation are promising besides gas?",
    "When did President Ilham Aliyev visit Belgrade?",
]
FAKE_LLM = """
import sys, time
sys.path.insert(0, sys.argv[1])
from tests.fakes.openai_server import FakeOpenAI
with FakeOpenAI() as fake:
    print(fake.base_url, flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"rag serve exited with code {proc.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"rag serve did not answer {url}/healthz within {timeout:.0f}s")


async def run_level(
    url: str, concurrency: int, requests: int, max_seconds: float, timeout: float = 60
) -> dict[str, Any]:
    """`requests` asks from `concurrency` clients at once; stops issuing new ones after `max_seconds`."""
    latencies: list[float] = []
    retrieval: list[float] = []
    generation: list[float] = []
    failures: dict[str, int] = {}
    shed = 0  # 503 `overloaded` with Retry-After: the queue was full, as designed
    issued = 0
    started = time.perf_counter()
    deadline = started + max_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:

        async def worker() -> None:
            nonlocal issued, shed
            while issued < requests and time.perf_counter() < deadline:
                question = QUESTIONS[issued % len(QUESTIONS)]
                issued += 1
                t0 = time.perf_counter()
                try:
                    r = await client.post("/v1/ask", json={"question": question})
                except httpx.HTTPError as e:
                    failures[type(e).__name__] = failures.get(type(e).__name__, 0) + 1
                    continue
                elapsed = (time.perf_counter() - t0) * 1000
                if r.status_code == 503 and r.json().get("error", {}).get("type") == "overloaded":
                    shed += 1
                    continue
                if r.status_code != 200:
                    failures[str(r.status_code)] = failures.get(str(r.status_code), 0) + 1
                    continue
                body = r.json()
                latencies.append(elapsed)
                retrieval.append(body["retrieval_ms"])
                generation.append(body["generation_ms"])

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    ok = len(latencies)
    return {
        "concurrency": concurrency,
        "requests": issued,
        "ok": ok,
        "failures": failures,
        "errors": sum(failures.values()),
        "shed_503": shed,
        "seconds": round(wall, 2),
        "throughput_rps": round(ok / wall, 1) if wall else 0.0,
        "p50_ms": round(percentile(latencies, 50), 1) if ok else None,
        "p95_ms": round(percentile(latencies, 95), 1) if ok else None,
        "p99_ms": round(percentile(latencies, 99), 1) if ok else None,
        "mean_retrieval_ms": round(sum(retrieval) / ok, 1) if ok else None,
        "mean_generation_ms": round(sum(generation) / ok, 1) if ok else None,
    }


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, from /proc (Linux)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, StopIteration, ProcessLookupError):
            continue
    return round(total / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="requests per concurrency level (max 5000)")
    parser.add_argument("--concurrency", default="20", help="comma-separated levels (each at most 64)")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="stop a level after this long (max 600)")
    parser.add_argument("--llm", choices=["fake", "local"], default="fake", help="the fast fake, or the local model")
    parser.add_argument("--timeout", type=float, default=60.0, help="client timeout per request, seconds")
    parser.add_argument("--out", type=Path, default=None, help="default bench/results/load.json (load-local.json)")
    args = parser.parse_args()
    args.out = args.out or ROOT / "bench" / "results" / ("load.json" if args.llm == "fake" else "load-local.json")
    levels = [int(c) for c in args.concurrency.split(",")]
    if not (0 < args.requests <= 5000 and all(0 < c <= 64 for c in levels) and 0 < args.max_seconds <= 600):
        parser.error("bounded on purpose: --requests 1..5000, --concurrency 1..64, --max-seconds up to 600")

    load_before = [round(x, 2) for x in os.getloadavg()]
    work = Path(tempfile.mkdtemp(prefix="seedrag-load-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_", "SLACK_"))}
    env.update(RAG_DATA_DIR=str(work / "data"), RAG_LLM_RETRIES="0")
    fake = None
    if args.llm == "fake":
        fake = subprocess.Popen(
            [sys.executable, "-c", FAKE_LLM, str(ROOT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert fake.stdout is not None
        env.update(OPENAI_BASE_URL=fake.stdout.readline().strip(), OPENAI_API_KEY="bench")
    else:  # a model server of our own, on a free port (another may be running on the default one)
        env.update(RAG_LOCAL_LLM_PORT=str(free_port()))
    log = (work / "serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "rag", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=work,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_healthy(url, server)
        r = httpx.post(f"{url}/v1/documents", files={"files": (SEED.name, SEED.read_bytes())}, timeout=120)
        r.raise_for_status()
        chunks = r.json()["results"][0]["chunks"]
        asyncio.run(run_level(url, 2, 2 if args.llm == "local" else 20, 60, args.timeout))  # warm-up
        rows = []
        for c in levels:
            before = rss_mb(server.pid)
            row = asyncio.run(run_level(url, c, args.requests, args.max_seconds, args.timeout))
            rows.append({**row, "rss_mb_before": before, "rss_mb_after": rss_mb(server.pid)})
    finally:
        server.terminate()
        server.wait(30)
        if fake is not None:
            if fake.stdin:
                fake.stdin.close()
            fake.wait(10)
        log.close()

    header = f"{'clients':>7} {'ok':>5} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
    header += f" {'retr ms':>8} {'gen ms':>7} {'errors':>6} {'503s':>5} {'RSS MB before/after':>20}"
    llm_name = "LLM stubbed (fast fake)" if args.llm == "fake" else "local model (llama.cpp)"
    print(
        f"POST /v1/ask, {llm_name}, {chunks} chunks indexed, {os.cpu_count()} CPUs, "
        f"load average before {load_before[0]}"
    )
    print(header)
    for row in rows:
        print(
            f"{row['concurrency']:>7} {row['ok']:>5} {row['throughput_rps']:>7} {row['p50_ms']:>8} "
            f"{row['p95_ms']:>8} {row['p99_ms']:>8} {row['mean_retrieval_ms']:>8} {row['mean_generation_ms']:>7}"
            f" {row['errors']:>6} {row['shed_503']:>5} {row['rss_mb_before']:>10}/{row['rss_mb_after']}"
            + (f"  failures {row['failures']}" if row["failures"] else "")
        )
    result = {
        "what": f"POST /v1/ask latency, throughput, errors and memory; {llm_name}",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_before": load_before,  # other work on the machine skews the figures
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "index_chunks": chunks,
        "levels": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
