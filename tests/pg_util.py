"""A real PostgreSQL server for the review-store tests: ``postgres_url`` gives each test a fresh
database. Import the fixtures where they are used (``from tests.pg_util import postgres_url``).

Order: ``OPENSCO_TEST_POSTGRES`` (run.sh starts a private server and sets it), else a private
server started here from /usr/lib/postgresql/*/bin, else skip (fail when
``OPENSCO_REQUIRE_SERVICES=1``). PostgreSQL refuses to run as root, so as root the server runs
as the ``postgres`` system user in a directory that user owns.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(path: str) -> int:
    try:
        return int(Path(path).parts[-3])
    except ValueError:
        return 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """initdb + pg_ctl on a free loopback port; trust auth for the superuser, no fsync."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="opensco-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        proc = subprocess.run(
            [*self.as_user, *args], capture_output=True, text=True, cwd=self.dir, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")

    def start(self) -> str:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--no-sync", "--locale=C",
        )  # fmt: skip
        opts = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l",
            str(self.dir / "log"), "-w", "-t", "60", "start",
        )  # fmt: skip
        return self.url

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


def start_server() -> PgServer | None:
    """A private server, or None when PostgreSQL is not installed."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        return None
    server = PgServer(bin_dir)
    try:
        server.start()
    except Exception:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a server's maintenance database (``postgres``)."""
    url = os.environ.get("OPENSCO_TEST_POSTGRES")
    if url:
        yield url
        return
    server = start_server()
    if server is None:
        if os.environ.get("OPENSCO_REQUIRE_SERVICES") == "1":
            pytest.fail("PostgreSQL is required (OPENSCO_REQUIRE_SERVICES=1) but not installed")
        pytest.skip("PostgreSQL not installed (no initdb)")
    try:
        yield server.url
    finally:
        server.stop()


def _with_db(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database for this test, dropped afterwards."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _with_db(postgres_server, name)
    deadline = time.monotonic() + 10
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        while True:
            try:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                break
            except psycopg.Error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
