"""No oracle: the negative cases cost the same work and the same time.

An attacker who knows a NIR and guesses the rest must not learn, from the answer or its
timing, whether the person exists, which identifier was wrong, or whether the contract
ended. The answers are compared in test_api_checks; here the work (the statements sent
to the database) and the time (median over hundreds of interleaved calls) are.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from checks_support import Population, build_population, make_app
from rempart.coverage.query import CheckRequest
from rempart.coverage.service import CheckService
from rempart.runtime import Runtime

ROUNDS = {"sqlite": 200, "postgres": 100}  # a PostgreSQL commit waits for a disk flush
# Medians of interleaved samples move by a few per cent on a busy machine; skipping one
# of the check's queries on one path moves its median by more than this.
TOLERANCE = 0.2


@pytest.fixture
def population(runtime: Runtime) -> Population:
    return build_population(runtime)


@pytest.fixture
def service(runtime: Runtime, population: Population) -> CheckService:
    app = make_app(runtime, population)
    return app.state.check_service  # type: ignore[no-any-return]


def as_request(payload: dict[str, Any]) -> CheckRequest:
    return CheckRequest(
        nir=payload["nir"], birth_date=dt.date.fromisoformat(payload["birth_date"]),
        birth_rank=payload["birth_rank"], amc_number=payload["amc_number"],
        member_number=payload["member_number"], category=payload["category"],
        care_date=dt.date.fromisoformat(payload["care_date"]))


def negative_cases(population: Population) -> dict[str, CheckRequest]:
    alice = population.alice
    return {
        "unknown person": as_request(population.stranger.payload()),
        "wrong member number": as_request(alice.payload(member_number="MA0777")),
        "wrong birth rank": as_request(alice.payload(birth_rank=2)),
        "terminated contract": as_request(population.bob.payload()),
        "category not covered": as_request(alice.payload("hospital")),
    }


@pytest.fixture
def statements(runtime: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.split()[0].upper())

    event.listen(runtime.engine, "before_cursor_execute", count)
    yield seen
    event.remove(runtime.engine, "before_cursor_execute", count)


def test_every_negative_case_sends_the_same_statements(
        service: CheckService, population: Population, statements: list[str]) -> None:
    requester = population.identity()
    sequences = {}
    for name, request in negative_cases(population).items():
        statements.clear()
        answer = service.check(requester=requester, request=request)
        assert answer.covered is False
        sequences[name] = list(statements)
    statements.clear()
    assert service.check(requester=requester,
                         request=as_request(population.alice.payload())).covered
    positive = list(statements)
    # The look-up (the allowance used is one of its columns), then the check row and
    # its audit entry in one transaction.
    assert positive[:2] == ["SELECT", "INSERT"]
    assert positive.count("INSERT") >= 2
    for name, sequence in sequences.items():
        assert sequence == positive, name


def test_negative_cases_take_the_same_time(service: CheckService, population: Population,
                                           backend: str) -> None:
    """Each case's median time is within TOLERANCE of the unknown person's.

    Times are taken in rounds that call every case once, in a shuffled order; each time
    is divided by the unknown person's time in the same round, so a burst of load on the
    machine, which slows a whole round, cancels out, and the median of those ratios is
    compared with 1. A measurement that fails is taken once more (a busy machine can
    still disturb one): a real difference fails both.
    """
    requester = population.identity()
    cases = negative_cases(population)
    for _ in range(20):  # warm caches and the connection pool first
        for request in cases.values():
            service.check(requester=requester, request=request)
    report = ""
    for attempt in range(2):
        ratios, medians = _measure(service, requester, cases, ROUNDS[backend], seed=attempt)
        report = ", ".join(f"{name}: {medians[name] / 1000:.0f} us (x{ratios[name]:.2f})"
                           for name in cases)
        print(f"median check time per case, {ROUNDS[backend]} interleaved rounds: {report}")
        if all(abs(ratio - 1) <= TOLERANCE for ratio in ratios.values()):
            return
    pytest.fail(f"negative cases differ in time: {report}")


def _measure(service: CheckService, requester: Any, cases: dict[str, CheckRequest],
             rounds: int, seed: int) -> tuple[dict[str, float], dict[str, float]]:
    """Per case: the median of (time / the reference's time in the same round), and the
    median time. The reference is the first case."""
    order = random.Random(seed)
    names = list(cases)
    reference = names[0]
    times: dict[str, list[int]] = {name: [] for name in names}
    relative: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        order.shuffle(names)
        this_round = {}
        for name in names:
            started = time.perf_counter_ns()
            service.check(requester=requester, request=cases[name])
            this_round[name] = time.perf_counter_ns() - started
        for name, elapsed in this_round.items():
            times[name].append(elapsed)
            relative[name].append(elapsed / this_round[reference])
    return ({name: statistics.median(values) for name, values in relative.items()},
            {name: statistics.median(values) for name, values in times.items()})
