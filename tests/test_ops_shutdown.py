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
from pathlib import Path

import httpx
import pytest

from checks_support import Population
from failure_load import checks_and_entries
from rempart.runtime import Runtime
from server_support import demo_headers, uvicorn_server, worker_env

pytestmark = pytest.mark.postgres

CLIENTS = 24


async def checks_until_refused(base_url: str, population: Population,
                               pid: int) -> tuple[list[str], int]:
    """Checks from many clients; SIGTERM once they are flowing. The references answered,
    and how many of them were answered after the signal (in flight when it came)."""
    answered: list[str] = []
    signalled_at: list[int] = []
    finished: list[int] = []
    payload = population.alice.payload(care_date=dt.date.today())

    async def client(number: int) -> None:
        # Each client is its own provider session from its own network, over both
        # organisations: one session firing checks back to back is what the exfiltration
        # guard slows down, and this test is about shutdown, not the guard.
        headers = demo_headers(population.organisation_ids[number % 2], f"shutdown-{number}",
                               f"10.{number}.0.1")
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            try:
                while True:
                    try:
                        response = await http.post("/api/v1/checks", json=payload,
                                                   headers=headers)
                    except httpx.TransportError:
                        return  # the server stopped taking requests
                    if response.status_code != 201:
                        return
                    answered.append(response.json()["reference"])
            finally:
                finished.append(number)

    async def terminate() -> None:
        # Signal once checks flow; never wait for ever if every client stopped early.
        while len(answered) < 50 and len(finished) < CLIENTS:
            await asyncio.sleep(0.01)
        signalled_at.append(len(answered))
        os.kill(pid, signal.SIGTERM)

    await asyncio.gather(terminate(), *(client(number) for number in range(CLIENTS)))
    return answered, len(answered) - signalled_at[0]


def test_sigterm_finishes_requests_and_flushes_the_audit_log(
        served_postgres: tuple[Runtime, Population], tmp_path: Path) -> None:
    runtime, population = served_postgres
    log_path = tmp_path / "server.log"
    with uvicorn_server(log_path, worker_env(runtime)) as (base_url, server):
        answered, after_signal = asyncio.run(
            checks_until_refused(base_url, population, server.pid))
        # uvicorn re-raises the signal once it has shut down cleanly.
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)
    logged = log_path.read_text()
    events = [json.loads(line)["event"] for line in logged.splitlines()
              if line.startswith("{")]
    assert "stopped" in events, logged  # the lifespan's flush ran
    assert len(answered) >= 50
    assert after_signal > 0  # requests in flight at the signal were answered
    stored, entries = checks_and_entries(runtime)
    audited = set(entries)
    assert set(answered) <= stored
    assert set(answered) <= audited
    verify = subprocess.run(
        [sys.executable, "-m", "rempart", "audit", "verify"], env=worker_env(runtime),
        capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
