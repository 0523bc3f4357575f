"""A worker killed with SIGKILL mid-request, under load: uvicorn with two workers on
PostgreSQL, one of them killed while checks flow. Requests in flight on a killed
worker get no answer; every check that did get its 201 is committed with its audit
entry (a check's row and its disclosure commit together, or neither), and
`rempart audit verify` passes afterwards."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from checks_support import Population
from failure_load import (
    TRANSPORT_ERROR,
    CheckLoad,
    audit_verify,
    checks_and_entries,
    many_organisations,
)
from rempart.runtime import Runtime
from server_support import uvicorn_server, worker_env

pytestmark = pytest.mark.postgres


def workers_of(server: int) -> list[int]:
    """The server's worker processes (multiprocessing children, not its resource tracker)."""
    children = Path(f"/proc/{server}/task/{server}/children").read_text().split()
    found = []
    for child in children:
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except FileNotFoundError:
            continue  # gone meanwhile
        if b"spawn_main" in command:
            found.append(int(child))
    return sorted(found)


async def forty_more_answered(load: CheckLoad) -> None:
    answered = len(load.created())
    await load.wait_for(lambda: len(load.created()) >= answered + 40, 30)


def test_sigkill_mid_request_loses_no_answered_check(
        served_postgres: tuple[Runtime, Population], tmp_path: Path) -> None:
    runtime, population = served_postgres
    killed: list[int] = []

    async def kill_a_worker(load: CheckLoad) -> None:
        # On a busy machine a worker is now and then between requests when it is killed;
        # kill again (uvicorn's supervisor starts a new one) until a request was cut.
        while len(killed) < 3 and TRANSPORT_ERROR not in {a.status for a in load.answers}:
            await forty_more_answered(load)
            victim = workers_of(server.pid)[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
        await forty_more_answered(load)  # the other worker goes on answering

    with uvicorn_server(tmp_path / "server.log", worker_env(runtime),
                        workers=2) as (base_url, server):
        load = CheckLoad(base_url, population, many_organisations(runtime),
                         fresh_connections=True)
        asyncio.run(load.run(kill_a_worker))
        assert server.poll() is None
    assert 1 <= len(killed) <= 3
    statuses = {answer.status for answer in load.answers}
    assert statuses <= {201, TRANSPORT_ERROR}, statuses
    # Requests were cut mid-way: the point of the drill.
    assert TRANSPORT_ERROR in statuses

    answered = load.created()
    stored, audited = checks_and_entries(runtime)
    assert answered <= stored
    # A check's row and its audit entry commit together: neither is left without the
    # other, and no entry is written twice.
    assert set(audited) == stored
    assert len(audited) == len(set(audited))
    code, output = audit_verify(runtime)
    assert code == 0, output
