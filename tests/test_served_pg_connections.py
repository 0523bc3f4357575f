"""A served app's PostgreSQL connections under a burst stay within its budget.

The app a server builds, its lifespan on (the worker threads started and kept, as
under uvicorn), answers 64 DPoP checks sent at once. Each request's DPoP check runs in
one of anyio's worker threads (its replay insert on that thread's own driver connection)
and its look-up in one of the loop's executor threads (on that thread's own
connection): the threads' connections are kept as long as the threads, on top of the
engine's pool. The server's backends for the app's database are sampled during the
burst; their peak must stay within `ConnectionBudget.for_settings(...)`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine.url import make_url

from auth_support import DpopClient, backend_settings
from portal_support import BASE_URL, PortalEnv, portal_env
from rempart.auth.roles import Role
from rempart.storage.connection_budget import ConnectionBudget

SERVER_ENV = "REMPART_TEST_POSTGRES_URL"
BURST = 64
CHECKS_URL = f"{BASE_URL}/api/v1/checks"
TOKEN_URL = f"{BASE_URL}/oauth/token"
HOME = "203.0.113.7"
PERSONS = ("alice", "leo", "bob", "carol")


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PortalEnv]:
    # The guard off: 64 checks of one key at once would be stepped up before most looked
    # anything up (the guard itself holds no thread connection; its writes use the pool).
    # REMPART_DB_THREADS=4: a budget of 15 + 4 x 4 = 31, under what the burst opened
    # before the threads were bounded.
    with backend_settings(str(request.param), tmp_path) as settings, \
            portal_env(dataclasses.replace(settings, guard_enabled=False,
                                           db_threads=4)) as opened:
        yield opened


def _server() -> str:
    return os.environ.get(SERVER_ENV, "postgresql://postgres@127.0.0.1:5432/test")


class Sampler:
    """The app database's backends, counted from another database every few ms."""

    def __init__(self, database: str) -> None:
        self._database = database
        self._stop = threading.Event()
        self.peak = 0
        self._thread = threading.Thread(target=self._run, name="backend-sampler")

    def count(self, admin: psycopg.Connection) -> int:
        row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                            (self._database,)).fetchone()
        return int(row[0]) if row else 0

    def _run(self) -> None:
        with psycopg.connect(_server(), autocommit=True) as admin:
            while not self._stop.is_set():
                self.peak = max(self.peak, self.count(admin))
                self._stop.wait(0.003)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _token(env: PortalEnv, dpop: DpopClient) -> str:
    admin_id, _ = env.account(role=Role.ORGANISATION_ADMIN)
    registered = env.auth.api_clients.register(
        actor=env.auth.accounts.get(admin_id).actor,
        organisation_id=env.population.organisation_ids[0], name="Logiciel d'officine")
    answer = env.browser(address=HOME).post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": registered.info.client_id,
        "client_secret": registered.client_secret},
        headers={"dpop": dpop.proof("POST", TOKEN_URL)})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def served_burst(env: PortalEnv) -> tuple[list[int], int]:
    """Serve the app (lifespan on) and send BURST DPoP checks at once: the answers'
    statuses and the peak of the database's backends meanwhile."""
    dpop = DpopClient(env.clock)
    token = _token(env, dpop)
    requests = [(getattr(env.population, PERSONS[i % len(PERSONS)]).payload(),
                 {"authorization": f"DPoP {token}",
                  "dpop": dpop.proof("POST", CHECKS_URL, access_token=token)})
                for i in range(BURST)]
    app = env.app
    database = make_url(env.runtime.settings.database_url).database or ""

    async def serve() -> list[int]:  # what uvicorn does around the requests
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=(HOME, 50000))
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
                answers = await asyncio.gather(*(client.post("/api/v1/checks", json=body,
                                                             headers=headers)
                                                 for body, headers in requests))
        return [answer.status_code for answer in answers]

    with Sampler(database) as sampler:
        statuses = asyncio.run(serve())
    return statuses, sampler.peak


def test_a_burst_of_dpop_checks_stays_within_the_budget(env: PortalEnv) -> None:
    budget = ConnectionBudget.for_settings(env.runtime.settings)
    assert budget is not None
    statuses, peak = served_burst(env)
    print(f"\n{BURST} DPoP checks at once: peak {peak} backends, budget {budget.per_worker}")
    assert set(statuses) == {201}
    # 47-48 backends before the threads were bounded (anyio's 40 threads each kept a
    # replay connection, the loop's executor's 6 a look-up one).
    assert peak <= budget.per_worker
