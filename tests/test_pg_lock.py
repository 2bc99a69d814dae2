"""The writer lock in PostgreSQL (AdvisoryLock): one writer per collection across processes, re-entrant in a
thread, and freed by the server when its holder is killed with SIGKILL. Real processes, real PostgreSQL."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from rag.index.locking import AdvisoryLock
from tests.conftest import ROOT

HOLD = """
import sys
from rag.index.locking import AdvisoryLock
with AdvisoryLock(sys.argv[1], sys.argv[2]):
    print("held", flush=True)
    sys.stdin.readline()
"""


def holder(url: str, collection: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, url, collection],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def take_in_thread(lock: AdvisoryLock) -> tuple[threading.Event, threading.Event]:
    """Take the lock in a thread; (got it, let it go)."""
    got, release = threading.Event(), threading.Event()

    def run() -> None:
        with lock:
            got.set()
            release.wait(30)

    threading.Thread(target=run, daemon=True).start()
    return got, release


def test_a_second_process_waits_and_says_so(postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    proc = holder(postgres_url, "books")
    lock = AdvisoryLock(postgres_url, "books")
    try:
        with caplog.at_level(logging.WARNING, logger="rag.index.locking"):
            got, release = take_in_thread(lock)
            assert not got.wait(1.5), "took a lock another process holds"
        assert "another process is writing collection 'books'" in caplog.text
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert got.wait(30), "never got the lock after the other process let it go"
        release.set()
    finally:
        proc.kill()
        proc.wait()
        lock.close()


def test_a_killed_holder_frees_the_lock(postgres_url: str) -> None:
    proc = holder(postgres_url, "books")
    lock = AdvisoryLock(postgres_url, "books")
    try:
        got, release = take_in_thread(lock)
        assert not got.wait(1.0)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        started = time.monotonic()
        assert got.wait(30), "the lock of a process killed with SIGKILL was never freed"
        assert time.monotonic() - started < 10
        release.set()
    finally:
        proc.kill()
        proc.wait()
        lock.close()


def test_collections_have_locks_of_their_own(postgres_url: str) -> None:
    proc = holder(postgres_url, "books")
    lock = AdvisoryLock(postgres_url, "papers")
    try:
        got, release = take_in_thread(lock)
        assert got.wait(10), "a writer of another collection was made to wait"
        release.set()
    finally:
        proc.kill()
        proc.wait()
        lock.close()


def test_reentrant_in_a_thread_and_exclusive_between_threads(postgres_url: str) -> None:
    lock = AdvisoryLock(postgres_url, "books")
    with lock, lock:  # an upload holds it around an ingest that takes it again
        got, release = take_in_thread(lock)
        assert not got.wait(0.5), "another thread of the process entered a held lock"
    assert got.wait(10)
    release.set()
    time.sleep(0.1)
    # Released for real: another process can take it now.
    proc = holder(postgres_url, "books")
    proc.kill()
    proc.wait()
    lock.close()


def test_a_lock_connection_the_server_dropped_is_replaced(postgres_url: str) -> None:
    import psycopg

    lock = AdvisoryLock(postgres_url, "books")
    with lock:
        pass
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
    with lock:  # the idle connection is found dead and replaced, once
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, postgres_url, "books"],
            stdout=subprocess.PIPE,
            stdin=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        time.sleep(1.0)
        assert proc.poll() is None
        proc.kill()
        proc.wait()
        assert proc.stdout is not None and proc.stdout.read() == "", "another process took a held lock"
    lock.close()
