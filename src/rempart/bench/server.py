"""A real HTTP server process over an instance, on loopback, for as long as a block runs.

The server is started in a session of its own (its workers are its children), so that
stopping it ends the whole group it started, and nothing else. The app is built in
each worker by `rempart.web.asgi:create_app_from_environment` from the environment
given here; the server's output goes to a log file (it never holds request values).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rempart.bench.errors import BenchError

FACTORY = "rempart.web.asgi:create_app_from_environment"
SERVERS = ("uvicorn", "granian")
HOST = "127.0.0.1"
LOOPBACK_PROXIES = "127.0.0.1/32,::1/128"
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 10.0


class ServerFailed(BenchError):
    """The server did not start, or stopped on its own."""


@dataclass(frozen=True)
class RunningServer:
    host: str
    port: int
    pid: int
    server: str
    workers: int


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def server_command(server: str, *, port: int, workers: int) -> list[str]:
    if server == "uvicorn":
        return [sys.executable, "-m", "uvicorn", FACTORY, "--factory", "--host", HOST,
                "--port", str(port), "--workers", str(workers), "--loop", "uvloop",
                "--http", "httptools", "--no-access-log", "--log-level", "warning",
                "--timeout-graceful-shutdown", "2"]
    if server == "granian":
        return [sys.executable, "-m", "granian", "--interface", "asgi", "--factory",
                "--host", HOST, "--port", str(port), "--workers", str(workers),
                "--loop", "uvloop", "--http", "1", "--no-ws", "--no-access-log", "--log-level",
                "warning", FACTORY]
    raise ServerFailed(f"unknown server {server!r}: choose one of {', '.join(SERVERS)}")


@contextmanager
def running_server(*, env: Mapping[str, str], log_file: Path, server: str = "uvicorn",
                   workers: int = 1, port: int | None = None) -> Iterator[RunningServer]:
    """Start the server, wait until it answers, yield, then stop it and its workers."""
    port = port or free_port()
    command = server_command(server, port=port, workers=workers)
    # The app chooses per-process or shared state from the worker count it is told.
    env = {**env, "REMPART_WORKERS": str(workers)}
    if server == "granian":
        # The load generator stands where the operator's reverse proxy would (its
        # X-Forwarded-For names each practice's address), as uvicorn trusts loopback
        # by default (its --forwarded-allow-ips); granian leaves that to the app.
        env.setdefault("REMPART_TRUSTED_PROXIES", LOOPBACK_PROXIES)
    with log_file.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, env={**os.environ, **env}, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_ready(process, port, log_file)
        yield RunningServer(host=HOST, port=port, pid=process.pid, server=server,
                            workers=workers)
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's own process group, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)
    except ProcessLookupError:
        process.wait(timeout=STOP_TIMEOUT_S)
    _reap_group(process.pid)


def _reap_group(pgid: int) -> None:
    """Workers left behind by a supervisor that died first are ended too."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return


def _wait_until_ready(process: subprocess.Popen[bytes], port: int, log_file: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerFailed(f"the server exited with status {process.returncode}; "
                               f"see {log_file}")
        if _answers(port):
            return
        time.sleep(0.2)
    raise ServerFailed(f"the server did not answer within {READY_TIMEOUT_S:.0f} s; "
                       f"see {log_file}")


def _answers(port: int) -> bool:
    """True once an HTTP answer comes back (any status: routing works)."""
    try:
        with socket.create_connection((HOST, port), timeout=2) as conn:
            conn.sendall(b"GET /bench/ready HTTP/1.1\r\nHost: bench\r\n"
                         b"Connection: close\r\n\r\n")
            return conn.recv(12).startswith(b"HTTP/1.1 ")
    except OSError:
        return False


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of every live process in a process group (Linux /proc)."""
    return groups_cpu_seconds([pgid])[pgid]


def groups_cpu_seconds(pgids: Collection[int]) -> dict[int, float]:
    """The same for several process groups, in one pass over /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals = dict.fromkeys(pgids, 0)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat_fields(stat)
        if fields is not None and (pgid := int(fields[2])) in totals:
            totals[pgid] += int(fields[11]) + int(fields[12])
    return {pgid: total / ticks for pgid, total in totals.items()}


def process_cpu_ticks(pid: int) -> int | None:
    """User + system CPU time of one process in clock ticks (Linux /proc); None once it
    has ended."""
    fields = _stat_fields(Path(f"/proc/{pid}/stat"))
    return None if fields is None else int(fields[11]) + int(fields[12])


def _stat_fields(stat: Path) -> list[str] | None:
    """A /proc stat file's fields from the state on (after the command name, which may
    hold spaces); None if the process ended meanwhile."""
    try:
        text = stat.read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()
