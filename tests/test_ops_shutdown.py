"""Graceful shutdown with a real uvicorn process on PostgreSQL: checks under load, SIGTERM,
then every answered check has its row and its audit entry, and the chain verifies."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from checks_support import Population, build_population
from ops_support import free_port, with_signing_key
from rempart.bench.server import server_command
from rempart.clock import SystemClock
from rempart.coverage.models import Check
from rempart.runtime import Runtime
from rempart.settings import Settings
from rempart.web.identity import DEMO_HEADER
from settings_support import sqlite_settings

pytestmark = pytest.mark.postgres

CLIENTS = 24


@pytest.fixture
def instance(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Runtime, Population]]:
    base = sqlite_settings(tmp_path / "instance")
    settings = Settings.load(data_dir=base.data_dir, database_url=postgres_url,
                             key_file=base.key_file)
    with Runtime.open(settings, create_keys=True) as runtime:
        population = build_population(runtime)
        runtime.clock = SystemClock()
        yield with_signing_key(runtime), population


def server_env(runtime: Runtime) -> dict[str, str]:
    settings = runtime.settings
    return {**os.environ, "REMPART_DATABASE_URL": settings.database_url,
            "REMPART_DATA_DIR": str(settings.data_dir), "REMPART_KEY_FILE": str(settings.key_file),
            "REMPART_DEMO_MODE": "1", "REMPART_LOG_FORMAT": "json"}


def wait_until_ready(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited before answering"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server never became ready")


async def checks_until_refused(port: int, population: Population,
                               pid: int) -> tuple[list[str], int]:
    """Checks from many clients; SIGTERM once they are flowing. The references answered,
    and how many of them were answered after the signal (in flight when it came)."""
    answered: list[str] = []
    signalled_at: list[int] = []
    payload = population.alice.payload(care_date=dt.date.today())
    headers = {DEMO_HEADER: str(population.organisation_ids[0])}

    async def client() -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            while True:
                try:
                    response = await http.post("/api/v1/checks", json=payload, headers=headers)
                except httpx.TransportError:
                    return  # the server stopped taking requests
                if response.status_code != 201:
                    return
                answered.append(response.json()["reference"])

    async def terminate() -> None:
        while len(answered) < 50:
            await asyncio.sleep(0.01)
        signalled_at.append(len(answered))
        os.kill(pid, signal.SIGTERM)

    await asyncio.gather(terminate(), *(client() for _ in range(CLIENTS)))
    return answered, len(answered) - signalled_at[0]


def test_sigterm_finishes_requests_and_flushes_the_audit_log(
        instance: tuple[Runtime, Population], tmp_path: Path) -> None:
    runtime, population = instance
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            server_command("uvicorn", port=port, workers=1), env=server_env(runtime),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_ready(process, port)
        answered, after_signal = asyncio.run(
            checks_until_refused(port, population, process.pid))
        # uvicorn re-raises the signal once it has shut down cleanly.
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    logged = log_path.read_text()
    events = [json.loads(line)["event"] for line in logged.splitlines()
              if line.startswith("{")]
    assert "stopped" in events, logged  # the lifespan's flush ran
    assert len(answered) >= 50
    assert after_signal > 0  # requests in flight at the signal were answered
    with runtime.engine.connect() as conn:
        stored = set(conn.execute(select(Check.reference)).scalars())
        details = conn.execute(text(
            "SELECT detail FROM audit_entries WHERE event = 'check.answered'")).scalars()
        audited = {json.loads(detail)["reference"] for detail in details}
    assert set(answered) <= stored
    assert set(answered) <= audited
    verify = subprocess.run(
        [sys.executable, "-m", "rempart", "audit", "verify"], env=server_env(runtime),
        capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
