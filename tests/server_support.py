"""Real server processes for the operations tests: an instance on PostgreSQL with the check
population, the environment a worker reads and a demo caller's headers, a process ended
with its group, readiness, a uvicorn server ready to serve."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from checks_support import Population, build_population
from ops_support import free_port, with_signing_key
from rempart.bench.server import server_command
from rempart.clock import SystemClock
from rempart.runtime import Runtime
from rempart.settings import Settings
from rempart.web.identity import DEMO_ADDRESS_HEADER, DEMO_HEADER, DEMO_SESSION_HEADER
from settings_support import sqlite_settings


@contextmanager
def postgres_instance(postgres_url: str,
                      directory: Path) -> Iterator[tuple[Runtime, Population]]:
    """Keys, the audit signing key and the population, on the system clock (served live)."""
    base = sqlite_settings(directory)
    settings = Settings.load(data_dir=base.data_dir, database_url=postgres_url,
                             key_file=base.key_file)
    with Runtime.open(settings, create_keys=True) as runtime:
        population = build_population(runtime)
        runtime.clock = SystemClock()
        yield with_signing_key(runtime), population


def worker_env(runtime: Runtime, **extra: str) -> dict[str, str]:
    """What a worker reads: the instance, demo identities (the tests' callers), extras."""
    settings = runtime.settings
    return {**os.environ, "REMPART_DATABASE_URL": settings.database_url,
            "REMPART_DATA_DIR": str(settings.data_dir), "REMPART_KEY_FILE": str(settings.key_file),
            "REMPART_DEMO_MODE": "1", "REMPART_LOG_FORMAT": "json", **extra}


def demo_headers(organisation_id: int, session: str, address: str) -> dict[str, str]:
    """Who a request comes from, as a worker in demo mode reads it: the organisation, the
    provider session and the client address."""
    return {DEMO_HEADER: str(organisation_id), DEMO_SESSION_HEADER: session,
            DEMO_ADDRESS_HEADER: address}


@contextmanager
def process(command: list[str], log: Path, env: dict[str, str] | None = None,
            stop: signal.Signals = signal.SIGTERM) -> Iterator[subprocess.Popen[bytes]]:
    """A process in a session of its own, ended with its group if still running."""
    with log.open("wb") as out:
        running = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        yield running
    finally:
        if running.poll() is None:
            os.killpg(running.pid, stop)
            try:
                running.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(running.pid, signal.SIGKILL)
                running.wait()


@contextmanager
def uvicorn_server(log: Path, env: dict[str, str], *,
                   workers: int = 1) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """uvicorn on a free loopback port, ready (its /readyz answered 200): its base URL and
    its process, ended with its group if still running."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with process(server_command("uvicorn", port=port, workers=workers), log, env) as server:
        wait_for(f"{base_url}/readyz", server)
        yield base_url, server


def wait_for(url: str, running: subprocess.Popen[bytes], *,
             verify: ssl.SSLContext | bool = True) -> None:
    """Until the URL answers 200; fails at once if the process exits."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert running.poll() is None, f"{running.args[0]} exited"
        try:
            if httpx.get(url, timeout=2, verify=verify).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never answered 200")
