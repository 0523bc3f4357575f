"""Group commit of checks: concurrent checks share commits; a failed commit fails them all."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from audit_disclosures import disclosures_by_reference
from checks_support import Population, build_population, make_app
from rempart.coverage.journal import GATHER_TURNS
from rempart.coverage.models import Check
from rempart.coverage.query import CheckRequest
from rempart.coverage.service import CheckService
from rempart.runtime import Runtime


@pytest.fixture
def population(runtime: Runtime) -> Population:
    return build_population(runtime)


@pytest.fixture
def service(runtime: Runtime, population: Population) -> CheckService:
    return make_app(runtime, population).state.check_service  # type: ignore[no-any-return]


def requests(population: Population, count: int) -> list[CheckRequest]:
    people = [population.alice, population.stranger, population.bob, population.leo]
    made = []
    for i in range(count):
        body = people[i % len(people)].payload(("pharmacy", "optical")[i % 2])
        made.append(CheckRequest(
            nir=body["nir"], birth_date=dt.date.fromisoformat(body["birth_date"]),
            birth_rank=body["birth_rank"], amc_number=body["amc_number"],
            member_number=body["member_number"], category=body["category"],
            care_date=dt.date.fromisoformat(body["care_date"])))
    return made


def test_concurrent_checks_share_commits_and_are_all_recorded(
        service: CheckService, population: Population, runtime: Runtime) -> None:
    commits = []

    def count(conn: Any) -> None:
        commits.append(1)

    event.listen(runtime.engine, "commit", count)
    try:
        requester = population.identity()

        async def run_all() -> list[Any]:
            return await asyncio.gather(*(service.check_async(requester=requester, request=r)
                                          for r in requests(population, 64)))

        answers = asyncio.run(run_all())
    finally:
        event.remove(runtime.engine, "commit", count)
    assert len({a.reference for a in answers}) == 64
    assert sum(a.covered for a in answers) == 32  # Alice and Leo, both categories
    with runtime.engine.connect() as conn:
        stored = set(conn.execute(select(Check.reference)).scalars())
    recorded = set(disclosures_by_reference(runtime.engine))
    assert stored == recorded == {a.reference for a in answers}
    assert 1 <= len(commits) < 64
    print(f"64 concurrent checks: {len(commits)} commits")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # look-ups inline, one per turn
def test_a_check_queued_a_loop_turn_later_joins_the_same_commit(
        service: CheckService, population: Population, runtime: Runtime) -> None:
    commits = []

    def count(conn: Any) -> None:
        commits.append(1)

    requester = population.identity()
    first_request, second_request = requests(population, 2)

    async def scenario() -> list[Any]:
        first = asyncio.create_task(service.check_async(requester=requester,
                                                        request=first_request))
        await asyncio.sleep(0)  # the first check has queued its writes
        second = asyncio.create_task(service.check_async(requester=requester,
                                                         request=second_request))
        return list(await asyncio.gather(first, second))

    event.listen(runtime.engine, "commit", count)
    try:
        answers = asyncio.run(scenario())
    finally:
        event.remove(runtime.engine, "commit", count)
    assert len(commits) == 1
    assert set(disclosures_by_reference(runtime.engine)) == {a.reference for a in answers}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # the commit on the loop
def test_a_lone_check_commits_without_waiting_for_others(
        service: CheckService, population: Population) -> None:
    requester = population.identity()

    async def scenario() -> bool:
        pending = asyncio.create_task(service.check_async(
            requester=requester, request=requests(population, 1)[0]))
        for _ in range(GATHER_TURNS + 2):  # its own turn, one to see nothing came, the commit
            await asyncio.sleep(0)
        return pending.done()

    assert asyncio.run(scenario())


def test_a_failed_commit_fails_every_check_in_it(service: CheckService,
                                                 population: Population,
                                                 runtime: Runtime) -> None:
    with runtime.engine.begin() as conn:
        conn.execute(text("DROP TABLE audit_entries"))
    requester = population.identity()

    async def run_all() -> list[Any]:
        return await asyncio.gather(
            *(service.check_async(requester=requester, request=r)
              for r in requests(population, 8)), return_exceptions=True)

    outcomes = asyncio.run(run_all())
    assert all(isinstance(outcome, Exception) for outcome in outcomes)
    with pytest.raises(Exception, match="audit_entries"):
        service.check(requester=requester, request=requests(population, 1)[0])
    with runtime.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Check)).scalar_one() == 0


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sqlite_commits_run_on_the_loop_while_the_write_lock_is_free(
        service: CheckService, population: Population) -> None:
    requester = population.identity()
    journal = service._journal

    async def run_all() -> list[Any]:
        return await asyncio.gather(*(service.check_async(requester=requester, request=r)
                                      for r in requests(population, 16)))

    assert len(asyncio.run(run_all())) == 16
    assert journal.flushes_on_loop >= 1
    assert journal.flushes_in_thread == 0


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_commit_that_must_wait_for_the_write_lock_waits_in_a_thread(
        service: CheckService, population: Population, runtime: Runtime) -> None:
    requester = population.identity()
    journal = service._journal

    async def scenario() -> tuple[bool, Any]:
        with runtime.engine.connect() as holder:
            driver: Any = holder.connection.driver_connection
            driver.execute("BEGIN IMMEDIATE")  # another writer holds SQLite's write lock
            try:
                pending = asyncio.create_task(service.check_async(
                    requester=requester, request=requests(population, 1)[0]))
                for _ in range(20):  # the loop keeps turning while the commit waits
                    await asyncio.sleep(0.01)
                waited = not pending.done()
            finally:
                driver.rollback()
        return waited, await pending

    waited, answer = asyncio.run(scenario())
    assert waited
    assert (journal.flushes_on_loop, journal.flushes_in_thread) == (0, 1)
    assert set(disclosures_by_reference(runtime.engine)) == {answer.reference}
