"""The check over HTTP: the answer's content, its shape, and what it never contains."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from audit_disclosures import disclosures_by_reference
from checks_support import TODAY, AppClient, Population, build_population, make_app
from rempart.coverage.models import Check
from rempart.coverage.schemas import CheckOut
from rempart.runtime import Runtime


@pytest.fixture
def population(runtime: Runtime) -> Population:
    return build_population(runtime)


@pytest.fixture
def client(runtime: Runtime, population: Population) -> Iterator[AppClient]:
    with AppClient(make_app(runtime, population)) as test_client:
        yield test_client


def test_covered_check_answers_the_guarantee_and_nothing_else(
        client: AppClient, population: Population) -> None:
    response = client.post("/api/v1/checks", json=population.alice.payload("pharmacy"))
    assert response.status_code == 201
    body = response.json()
    CheckOut.model_validate(body)
    assert set(body) == {"reference", "covered", "category", "care_date", "checked_at",
                         "third_party_payment", "guarantee"}
    assert body["covered"] is True
    assert body["third_party_payment"] is True
    assert body["guarantee"] == {"kind": "base_share", "rate_bp": 10_000, "amount_cents": None,
                                 "allowance_period_months": None,
                                 "allowance_remaining_cents": None}
    assert body["category"] == "pharmacy"
    assert body["care_date"] == TODAY.isoformat()
    assert len(body["reference"]) == 26
    for secret in population.alice.secrets():
        assert secret not in response.text
    for word in ("Zorglubova", "Quentinette", "married", "75011"):
        assert word not in response.text


def test_allowance_and_third_party_come_from_the_guarantee(
        client: AppClient, population: Population) -> None:
    optical = client.post("/api/v1/checks", json=population.alice.payload("optical")).json()
    assert optical["guarantee"] == {"kind": "flat", "rate_bp": None, "amount_cents": 15_000,
                                    "allowance_period_months": 24,
                                    "allowance_remaining_cents": 40_000}
    dental = client.post("/api/v1/checks", json=population.alice.payload("dental")).json()
    assert dental["covered"] is True
    assert dental["guarantee"]["kind"] == "ceiling"
    assert dental["third_party_payment"] is False


def test_twin_rank_is_part_of_the_identity(client: AppClient, population: Population) -> None:
    leo = client.post("/api/v1/checks", json=population.leo.payload()).json()
    assert leo["covered"] is True
    wrong_rank = client.post("/api/v1/checks",
                             json=population.leo.payload(birth_rank=1)).json()
    assert wrong_rank["covered"] is False


def negative_cases(population: Population) -> dict[str, dict[str, object]]:
    alice = population.alice
    return {
        "unknown person": population.stranger.payload(),
        "wrong member number": alice.payload(member_number="MA0009"),
        "wrong birth date": alice.payload(birth_date="1985-05-18"),
        "wrong birth rank": alice.payload(birth_rank=2),
        "wrong insurer": alice.payload(amc_number="87654321"),
        "terminated contract": population.bob.payload(),
        "category not covered": alice.payload("hospital"),
        "another person's member number": alice.payload(member_number="MA0003"),
    }


def test_every_negative_answer_is_the_same(client: AppClient, population: Population) -> None:
    answers = {}
    for case, payload in negative_cases(population).items():
        response = client.post("/api/v1/checks", json=payload)
        assert response.status_code == 201, case
        body = response.json()
        CheckOut.model_validate(body)
        reference = body.pop("reference")
        body.pop("checked_at")
        assert len(reference) == 26
        answers[case] = (response.status_code, sorted(response.headers.keys()), body)
    first = next(iter(answers.values()))
    for case, answer in answers.items():
        assert answer[0] == first[0], case
        assert answer[1] == first[1], case
        assert {**answer[2], "category": None} == {**first[2], "category": None}, case
        assert answer[2]["covered"] is False
        assert answer[2]["guarantee"] is None
        assert answer[2]["third_party_payment"] is False


def test_every_check_is_stored_and_recorded(client: AppClient, population: Population,
                                            runtime: Runtime) -> None:
    covered = client.post("/api/v1/checks", json=population.alice.payload()).json()
    missed = client.post("/api/v1/checks", json=population.stranger.payload()).json()
    ended = client.post("/api/v1/checks", json=population.bob.payload()).json()
    with runtime.engine.connect() as conn:
        checks = {row.reference: row for row in conn.execute(select(Check)).all()}
    assert checks[covered["reference"]].beneficiary_id == population.alice.beneficiary_id
    assert checks[covered["reference"]].outcome == "covered"
    assert checks[missed["reference"]].beneficiary_id is None
    assert checks[missed["reference"]].outcome == "no_match"
    assert checks[ended["reference"]].beneficiary_id == population.bob.beneficiary_id
    assert checks[ended["reference"]].outcome == "contract_inactive"
    assert all(row.organisation_id == population.organisation_ids[0]
               for row in checks.values())
    disclosures = disclosures_by_reference(runtime.engine)
    hit = disclosures[covered["reference"]]
    assert hit.event == "check.answered"
    assert hit.person_id == population.alice.beneficiary_id
    assert hit.fields == ("covered", "guarantee_kind", "guarantee_rate_bp",
                          "third_party_payment")
    assert (hit.account_id, hit.session_id, hit.device_id) == (100, "session-0", "device-0")
    for negative in (missed, ended):
        row = disclosures[negative["reference"]]
        assert row.person_id is None
        assert row.fields == ()


def test_own_checks_are_listed_newest_first_and_paginated(
        runtime: Runtime, population: Population, client: AppClient) -> None:
    references = []
    for _ in range(5):
        references.append(client.post("/api/v1/checks",
                                      json=population.alice.payload()).json()["reference"])
        runtime.clock.advance(1)  # type: ignore[attr-defined]
    first = client.get("/api/v1/checks", params={"limit": 2}).json()
    assert [item["reference"] for item in first["items"]] == references[::-1][:2]
    second = client.get("/api/v1/checks",
                        params={"limit": 2, "after": first["next_cursor"]}).json()
    assert [item["reference"] for item in second["items"]] == references[::-1][2:4]
    last = client.get("/api/v1/checks", params={"limit": 2, "after": second["next_cursor"]})
    assert [item["reference"] for item in last.json()["items"]] == references[:1]
    assert last.json()["next_cursor"] is None
    with AppClient(make_app(runtime, population, which=1)) as other:
        assert other.get("/api/v1/checks").json() == {"items": [], "next_cursor": None}


def test_checked_at_comes_from_the_injected_clock(client: AppClient,
                                                   population: Population) -> None:
    body = client.post("/api/v1/checks", json=population.alice.payload()).json()
    assert dt.datetime.fromisoformat(body["checked_at"]) == dt.datetime(
        2026, 3, 2, 10, 0, tzinfo=dt.UTC)
