"""A throwaway PostgreSQL cluster for the tests, from Debian's binaries, on 127.0.0.1 at a free port.

`postgres_server` (session) starts one cluster for the whole run and stops it at the end; `postgres_url`
(per test) is a fresh, empty database on it, so tests never see each other's tables. `make postgres`
installs Debian's `postgresql` package when `initdb` is missing.

initdb and postgres refuse to run as root; as root (here and in CI) every binary runs as the `postgres`
system user, and the cluster's folder is handed to that user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def _bin_dir() -> Path:
    """The newest installed Debian PostgreSQL's bin folder (/usr/lib/postgresql/<version>/bin)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name.split(".")[0])
    )
    if not found:
        on_path = shutil.which("initdb")
        if on_path:
            return Path(on_path).parent
        raise RuntimeError("PostgreSQL's initdb is not installed; run 'make postgres' (Debian's postgresql package)")
    return Path(found[-1]).parent


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One cluster: initdb into a temp folder, pg_ctl start on loopback, pg_ctl stop and remove."""

    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="seedrag-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_postgres = os.getuid() == 0
        if self.as_postgres:
            shutil.chown(self.root, user="postgres", group="postgres")
        # Superuser without a password, trust on loopback only: a test cluster that lives for one run.
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip() or done.stdout}")

    def start(self) -> PostgresServer:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        # fsync off and no unix socket outside the temp folder: fast, and nothing left behind in /var/run.
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -F -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-o", options, "-w", "start")
        self._wait()
        return self

    def _wait(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def new_database(self) -> str:
        """A fresh empty database on this cluster; its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + "/" + name

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=30)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh database for this test: postgresql://postgres@127.0.0.1:<port>/t_<random>."""
    return postgres_server.new_database()
