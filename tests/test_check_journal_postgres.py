"""The checks' group commit on PostgreSQL: pipelined on the thread's own connection, no
pooled connection per batch, a batch whose connection the server dropped is
written again once, on a new connection, and recorded once; and the checks' insert
asks for nothing back (docs/deploy.md, "PostgreSQL's own work per check")."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, event, func, select, text

from audit_disclosures import disclosures_by_reference
from checks_support import Population, build_population, make_app
from rempart.coverage.models import Check
from rempart.coverage.service import CheckService
from rempart.runtime import Runtime
from test_check_journal import requests

pytestmark = pytest.mark.postgres


@pytest.fixture
def backend() -> str:
    return "postgres"


@pytest.fixture
def population(runtime: Runtime) -> Population:
    return build_population(runtime)


@pytest.fixture
def service(runtime: Runtime, population: Population) -> CheckService:
    return make_app(runtime, population).state.check_service  # type: ignore[no-any-return]


def test_checks_commit_on_the_threads_own_connection(
        service: CheckService, population: Population, runtime: Runtime) -> None:
    """Once a thread has its connection, its checks take none from the pool (the pool's
    checkout pinged the server and cost a round trip per batch)."""
    requester = population.identity()
    made = requests(population, 6)
    service.check(requester=requester, request=made[0])  # the thread's connection
    checkouts: list[Any] = []

    def count(*_args: Any) -> None:
        checkouts.append(1)

    event.listen(runtime.engine.pool, "checkout", count)
    try:
        answers = [service.check(requester=requester, request=r) for r in made[1:]]
    finally:
        event.remove(runtime.engine.pool, "checkout", count)
    assert checkouts == []
    recorded = disclosures_by_reference(runtime.engine)
    assert {a.reference for a in answers} <= set(recorded)


def test_concurrent_checks_share_pipelined_commits(
        service: CheckService, population: Population, runtime: Runtime) -> None:
    requester = population.identity()

    async def run_all() -> list[Any]:
        return await asyncio.gather(*(service.check_async(requester=requester, request=r)
                                      for r in requests(population, 48)))

    answers = asyncio.run(run_all())
    references = {a.reference for a in answers}
    with runtime.engine.connect() as conn:
        stored = set(conn.execute(select(Check.reference)).scalars())
    assert stored == set(disclosures_by_reference(runtime.engine)) == references
    assert service._journal.flushes_in_thread < 48
    assert _chained(runtime.engine)


def test_a_batch_whose_connection_was_dropped_is_written_again_once(
        service: CheckService, population: Population, runtime: Runtime,
        postgres_url: str) -> None:
    requester = population.identity()
    first, second = requests(population, 2)
    service.check(requester=requester, request=first)  # the thread's connection
    answer, pending = service._look_up(requester, second)
    journal = service._journal
    driver: Any = service._reads._reader._connections.get()
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (driver.info.backend_pid,))

    journal.write(pending)

    assert journal._pipelined is not None
    assert journal._pipelined.retries == 1
    with runtime.engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(Check).where(
            Check.reference == answer.reference)).scalar_one()
    assert stored == 1
    assert answer.reference in disclosures_by_reference(runtime.engine)
    assert _chained(runtime.engine)


def _chained(engine: Engine) -> bool:
    """Positions gap-free from 1, each entry linked to the one before, the head on the last."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT position, prev_hash, entry_hash FROM audit_entries ORDER BY position")).all()
        head = conn.execute(text("SELECT position, entry_hash FROM audit_head")).one()
    linked = all(row[1] == before[2] for before, row in itertools.pairwise(rows))
    return ([row[0] for row in rows] == list(range(1, len(rows) + 1)) and linked
            and (head[0], bytes(head[1])) == (rows[-1][0], bytes(rows[-1][2])))


def _statements(runtime: Runtime, service: CheckService,
                population: Population) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def listen(_conn: Any, cursor: Any, sql: str, *_args: Any) -> None:
        seen.append((sql, cursor))

    requester = population.identity()
    event.listen(runtime.engine, "before_cursor_execute", listen)
    try:
        answers = [service.check(requester=requester, request=r)
                   for r in requests(population, 3)]
    finally:
        event.remove(runtime.engine, "before_cursor_execute", listen)
    assert all(answer.reference for answer in answers)
    return seen


def test_the_checks_insert_asks_nothing_back(service: CheckService, population: Population,
                                             runtime: Runtime) -> None:
    inserts = [sql for sql, _ in _statements(runtime, service, population)
               if sql.startswith("INSERT INTO checks")]
    assert len(inserts) == 3
    assert not any("RETURNING" in sql for sql in inserts)
