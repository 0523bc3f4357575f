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
from contextlib import contextmanager
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
        # 1 MiB WAL segments (16 by default): a cluster fits on a small tmpfs.
        self._run(str(self._bin / "initdb"), "-D", str(self._dir / "data"), "-U", "postgres",
                  "--auth=trust", "-E", "UTF8", "--no-sync", "--wal-segsize=1")

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self._dir} "
                   "-c fsync=off -c min_wal_size=4MB -c max_wal_size=16MB")
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


@contextmanager
def _running_cluster(directory: Path) -> Iterator[PrivatePostgres]:
    """A cluster initialised in `directory` (which its owner must be able to reach) and
    started; stopped at the end, if the test left it running."""
    bin_dir = _pg_bin()
    if bin_dir is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        require_service("a private PostgreSQL cluster", FileNotFoundError(PG_BINARIES))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    cluster = PrivatePostgres(bin_dir, directory)
    try:
        cluster.init()
        cluster.start()
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        require_service("a private PostgreSQL cluster", exc)
    try:
        yield cluster
    finally:
        with contextlib.suppress(RuntimeError):  # already stopped by the test
            cluster.stop("immediate")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    # Not under pytest's tmp_path: as root that is private to root, and the cluster's
    # owner must reach its directory.
    directory = Path(tempfile.mkdtemp(prefix="rempart-pg-"))
    try:
        with _running_cluster(directory) as cluster:
            yield cluster
    finally:
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


@contextmanager
def _tmpfs(size: str) -> Iterator[Path]:
    """A tmpfs of `size`: writes past it fail with ENOSPC, as on a full disk."""
    directory = Path(tempfile.mkdtemp(prefix="rempart-full-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                              str(directory)], capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        directory.rmdir()
        require_service("a small tmpfs (needs root)", OSError(mounted.stderr.strip()))
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)
        directory.rmdir()


@pytest.fixture
def small_tmpfs() -> Iterator[Path]:
    """24 MiB: room for a small instance's SQLite database and its log."""
    with _tmpfs("24m") as directory:
        yield directory


@pytest.fixture
def postgres_on_small_disk() -> Iterator[tuple[PrivatePostgres, Path]]:
    """A private cluster whose whole data directory is on a 64 MiB tmpfs (a new cluster
    takes about 30 MiB with 1 MiB WAL segments); and that tmpfs, to fill."""
    with _tmpfs("64m") as disk, _running_cluster(disk) as cluster:
        yield cluster, disk
