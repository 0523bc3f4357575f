"""The allowance used, computed inside the check's look-up, counts what the ledger counts.

`MonthsBefore` is `rules.minus_months` in SQL (SQLite's own month arithmetic overflows
into the next month, PostgreSQL's caps the day); the check's remaining allowance is
compared with the ledger's (`ledger.remaining_on`, whose window is computed in Python)
over claims placed on the window's edges.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Date, bindparam, insert, literal, select

from checks_support import TODAY, AppClient, Population, build_population, make_app
from rempart.coverage import check_store, ledger
from rempart.coverage.allowance_sql import MonthsBefore
from rempart.coverage.models import Check, Claim
from rempart.coverage.rules import minus_months
from rempart.runtime import Runtime


def months_before_in_sql(runtime: Runtime, day: dt.date, months: int) -> dt.date:
    statement = select(MonthsBefore(bindparam("day", type_=Date), literal(months)))
    with runtime.engine.connect() as conn:
        value: dt.date = conn.execute(statement, {"day": day}).scalar_one()
    return value


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(day=st.dates(min_value=dt.date(1901, 1, 1), max_value=dt.date(2199, 12, 31)),
       months=st.integers(min_value=1, max_value=120))
@example(day=dt.date(2024, 3, 31), months=1)  # a leap February: the 29th
@example(day=dt.date(2023, 3, 31), months=1)  # the 28th
@example(day=dt.date(2026, 1, 31), months=14)  # over a year boundary
@example(day=dt.date(2024, 2, 29), months=12)
@example(day=dt.date(2026, 3, 2), months=24)
def test_months_before_is_minus_months(runtime: Runtime, day: dt.date, months: int) -> None:
    assert months_before_in_sql(runtime, day, months) == minus_months(day, months)


@pytest.fixture
def population(runtime: Runtime) -> Population:
    return build_population(runtime)


def add_claims(runtime: Runtime, check_reference: str, beneficiary_id: int,
               claims: list[tuple[str, dt.date, str, int]]) -> None:
    """Claims (category, date of care, status, AMC cents) quoting one check."""
    with runtime.engine.begin() as conn:
        check_id = conn.execute(select(Check.id).where(
            Check.reference == check_reference)).scalar_one()
        base: dict[str, Any] = {
            "check_id": check_id, "organisation_id": 1, "account_id": None,
            "beneficiary_id": beneficiary_id, "billed_cents": 1, "base_tariff_cents": 1,
            "amo_rate_bp": 0, "amo_cents": 0, "patient_cents": 0, "reason": None,
            "received_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "decided_at": None,
            "paid_at": None}
        for at, (category, care_date, status, cents) in enumerate(claims):
            conn.execute(insert(Claim).values(
                **base, reference=f"EDGE{at:022d}", category=category, care_date=care_date,
                status=status, amc_cents=cents))


def test_the_check_counts_the_claims_of_its_window_like_the_ledger(
        runtime: Runtime, population: Population) -> None:
    # Optical: 400 EUR per 24 months; the window is (TODAY - 24 months, TODAY].
    start = minus_months(TODAY, 24)
    alice = population.alice
    with AppClient(make_app(runtime, population)) as client:
        first = client.post("/api/v1/checks", json=alice.payload("optical")).json()
        assert first["guarantee"]["allowance_remaining_cents"] == 40_000
        add_claims(runtime, first["reference"], alice.beneficiary_id, [
            ("optical", start, "accepted", 1_000),  # the window's first day is excluded
            ("optical", start + dt.timedelta(days=1), "accepted", 2_000),
            ("optical", TODAY, "paid", 4_000),
            ("optical", TODAY - dt.timedelta(days=3), "rejected", 8_000),
            ("optical", TODAY - dt.timedelta(days=2), "received", 16_000),
            ("optical", TODAY + dt.timedelta(days=1), "accepted", 400),  # after the care
            ("dental", TODAY, "accepted", 800),  # another category
        ])
        answer = client.post("/api/v1/checks", json=alice.payload("optical")).json()
        leo = client.post("/api/v1/checks", json=population.leo.payload("optical")).json()
    assert answer["guarantee"]["allowance_remaining_cents"] == 40_000 - 6_000
    assert leo["guarantee"]["allowance_remaining_cents"] == 40_000  # his own allowance
    with runtime.engine.connect() as conn:
        stored = check_store.find_own_check(conn, reference=answer["reference"],
                                            organisation_id=population.organisation_ids[0])
        assert stored is not None
        assert stored.guarantee is not None
        assert ledger.remaining_on(conn, guarantee=stored.guarantee,
                                   beneficiary_id=alice.beneficiary_id, category="optical",
                                   care_date=TODAY) == 40_000 - 6_000
