"""PostgreSQL restarted under load, on a private cluster: while it is down the checks are
refused with a clean 503 (a problem document, no stack trace, no personal data), every
check answered 201 is recorded with its audit entry, and once it is back the same
worker serves again, never restarted."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from checks_support import Population
from failure_load import CheckLoad, DpopCaller, checks_and_entries, many_organisations
from failure_servers import PrivatePostgres, private_postgres  # noqa: F401 (a fixture)
from ops_support import personal_values
from rempart.runtime import Runtime
from server_support import postgres_instance, uvicorn_server, worker_env

pytestmark = pytest.mark.postgres


@pytest.fixture
def instance(private_postgres: PrivatePostgres,  # noqa: F811
             tmp_path: Path) -> Iterator[tuple[Runtime, Population]]:
    url = private_postgres.create_database("rempart")
    with postgres_instance(url, tmp_path / "instance") as served:
        yield served


def test_postgres_restart_under_load(instance: tuple[Runtime, Population],
                                     private_postgres: PrivatePostgres,  # noqa: F811
                                     tmp_path: Path) -> None:
    runtime, population = instance
    log_path = tmp_path / "server.log"
    moments: dict[str, float] = {}
    readiness: dict[str, httpx.Response] = {}
    listed: dict[str, httpx.Response] = {}  # an API client's DPoP requests

    async def restart(load: CheckLoad) -> None:
        await load.wait_for(lambda: len(load.created()) >= 30, 30)
        listed["before"] = await caller.get("/api/v1/checks")
        await asyncio.to_thread(private_postgres.stop, "fast")
        moments["down"] = time.monotonic()
        await load.wait_for_status(503, 10, since=moments["down"])
        readiness["down"] = await load.get("/readyz")
        listed["down"] = await caller.get("/api/v1/checks")
        await asyncio.to_thread(private_postgres.start)
        moments["up"] = time.monotonic()
        await load.wait_for_status(201, 30, since=moments["up"])
        readiness["up"] = await load.get("/readyz")
        listed["after"] = await caller.get("/api/v1/checks")

    with uvicorn_server(log_path, worker_env(runtime)) as (base_url, server):
        caller = DpopCaller.register(runtime, population.organisation_ids[0], base_url)
        load = CheckLoad(base_url, population, many_organisations(runtime))
        asyncio.run(load.run(restart))
        assert server.poll() is None  # the same process throughout

    statuses = {answer.status for answer in load.answers}
    assert statuses <= {201, 503}, statuses
    refused = [answer for answer in load.answers if answer.status == 503]
    for answer in refused:
        problem = json.loads(answer.body)
        assert problem["error"]["code"] == "database_unavailable"
        assert problem["request_id"]
        assert answer.retry_after is not None
    assert readiness["down"].status_code == 503
    assert readiness["down"].json()["failing"] == ["database"]
    assert readiness["up"].status_code == 200
    assert [listed[phase].status_code for phase in ("before", "down", "after")] == [
        200, 503, 200]
    assert listed["down"].json()["error"]["code"] == "database_unavailable"

    # No stack trace and no personal value in any answer or log line.
    logged = log_path.read_text()
    for leaked in [*personal_values(population), "Traceback"]:
        assert leaked not in logged
        assert not any(leaked in answer.body for answer in refused)
    assert '"database unavailable"' in logged

    # Every check answered 201 has its row and its audit entry; the chain verifies.
    answered = load.created()
    stored, entries = checks_and_entries(runtime)
    audited = set(entries)
    assert answered <= stored
    assert answered <= audited
