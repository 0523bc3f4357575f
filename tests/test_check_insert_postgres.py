"""What a check asks of PostgreSQL: the journal's insert without a RETURNING that nothing
reads (docs/deploy.md, "PostgreSQL's own work per check")."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from checks_support import Population, build_population, make_app
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
