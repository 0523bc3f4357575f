"""Private servers for the failure drills, never the shared ones: a PostgreSQL cluster and a
Redis server of the test's own (own port, own data directory) that a test may stop and
start again, and a small tmpfs that fills up for real (ENOSPC).

PostgreSQL refuses to run as root: as root the cluster runs as the `postgres` user, in a
directory that user owns. Mounting the tmpfs needs root. Where something is missing the
test fails under REMPART_REQUIRE_SERVICES=1 (CI) and is skipped otherwise.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from ops_support import free_port, require_service

PG_BINARIES = "/usr/lib/postgresql/*/bin"


def _pg_bin() -> Path | None:
    found = sorted(glob.glob(PG_BINARIES), key=lambda p: int(Path(p).parent.name))
    return Path(found[-1]) if found else None


class PrivatePostgres:
    """A PostgreSQL cluster on a free loopback port; `stop` and `start` as often as needed."""

    def __init__(self, bin_dir: Path, directory: Path) -> None:
        self._bin = bin_dir
        self._dir = directory
        self.port = free_port()
        self._as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        done = subprocess.run([*self._as_owner, *command], capture_output=True, text=True,
                              timeout=60, cwd=self._dir)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stdout}{done.stderr}")

    def init(self) -> None:
        # No fsync here nor in the server: a test cluster, thrown away, whose restarts
        # are clean shutdowns (the machine does not crash under it).
        self._run(str(self._bin / "initdb"), "-D", str(self._dir / "data"), "-U", "postgres",
                  "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self._dir} "
                   "-c fsync=off")
        self._run(str(self._bin / "pg_ctl"), "-D", str(self._dir / "data"), "-l",
                  str(self._dir / "server.log"), "-o", options, "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every connection (what a restart does to the clients)."""
        self._run(str(self._bin / "pg_ctl"), "-D", str(self._dir / "data"), "-m", mode,
                  "-w", "-t", "30", "stop")

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = _pg_bin()
    if bin_dir is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        require_service("a private PostgreSQL cluster", FileNotFoundError(PG_BINARIES))
        raise AssertionError("unreachable")
    # Not under pytest's tmp_path: as root that is private to root, and the cluster's
    # owner must reach its directory.
    directory = Path(tempfile.mkdtemp(prefix="rempart-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    cluster = PrivatePostgres(bin_dir, directory)
    try:
        cluster.init()
        cluster.start()
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(directory, ignore_errors=True)
        require_service("a private PostgreSQL cluster", exc)
        raise
    try:
        yield cluster
    finally:
        with contextlib.suppress(RuntimeError):  # already stopped by the test
            cluster.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)


class PrivateRedis:
    """A redis-server on a free loopback port, without persistence; stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self._server: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._server = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self._server.poll() is not None:
                    raise
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        if self._server is not None and self._server.poll() is None:
            self._server.terminate()
            self._server.wait(timeout=10)
        self._server = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        require_service("a private Redis server", FileNotFoundError("redis-server"))
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def small_tmpfs() -> Iterator[Path]:
    """A 24 MiB tmpfs: writes past its size fail with ENOSPC, as on a full disk."""
    directory = Path(tempfile.mkdtemp(prefix="rempart-full-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs",
                              str(directory)], capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        directory.rmdir()
        require_service("a small tmpfs (needs root)", OSError(mounted.stderr.strip()))
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)
        directory.rmdir()
