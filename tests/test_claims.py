"""Claims quote checks: validation against the check, statuses, the allowance ledger."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from audit_disclosures import recorded_disclosures
from checks_support import TODAY, AppClient, Population, build_population, make_app
from rempart.coverage.claim_schemas import ClaimOut, ClaimPageOut
from rempart.coverage.errors import InvalidTransition, UnknownReference
from rempart.coverage.schemas import CalculationOut
from rempart.runtime import Runtime


@pytest.fixture
def population(runtime: Runtime) -> Population:
    return build_population(runtime)


@pytest.fixture
def app(runtime: Runtime, population: Population) -> Any:
    return make_app(runtime, population)


@pytest.fixture
def client(app: Any) -> Iterator[AppClient]:
    with AppClient(app) as test_client:
        yield test_client


@pytest.fixture
def other_client(runtime: Runtime, population: Population) -> Iterator[AppClient]:
    with AppClient(make_app(runtime, population, which=1)) as test_client:
        yield test_client


def check(client: AppClient, payload: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/checks", json=payload)
    assert response.status_code == 201
    return dict(response.json())


def claim(client: AppClient, reference: str, *, category: str = "optical",
          care_date: dt.date = TODAY, billed: int = 50_000, base: int = 1_000,
          amo_rate: int = 6000, amc: int = 15_000) -> dict[str, Any]:
    response = client.post("/api/v1/claims", json={
        "check_reference": reference, "category": category, "care_date": care_date.isoformat(),
        "billed_cents": billed, "base_tariff_cents": base, "amo_rate_bp": amo_rate,
        "amc_cents": amc})
    assert response.status_code == 201, response.text
    body = dict(response.json())
    ClaimOut.model_validate(body)
    return body


def test_a_claim_backed_by_its_check_is_accepted(client: AppClient,
                                                  population: Population) -> None:
    reference = check(client, population.alice.payload("optical"))["reference"]
    body = claim(client, reference)
    assert body["status"] == "accepted"
    assert body["reason"] is None
    assert body["check_reference"] == reference
    assert (body["amo_cents"], body["amc_cents"], body["patient_cents"]) == (600, 15_000, 34_400)
    assert body["decided_at"] is not None
    assert body["paid_at"] is None


def test_a_claim_that_the_check_does_not_back_is_rejected(
        client: AppClient, population: Population) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"amc": 15_001}, "amount_above_guarantee"),
        ({"category": "dental"}, "category_mismatch"),
        ({"care_date": TODAY - dt.timedelta(days=1)}, "outside_check_window"),
    ]
    for changes, reason in cases:
        reference = check(client, population.alice.payload("optical"))["reference"]
        body = claim(client, reference, **changes)
        assert (body["status"], body["reason"]) == ("rejected", reason)
        assert body["amc_cents"] == 0


def test_the_window_runs_a_week_after_the_date_of_care(client: AppClient,
                                                       population: Population) -> None:
    care = TODAY - dt.timedelta(days=10)
    reference = check(client, population.alice.payload("pharmacy", care_date=care))["reference"]
    late = claim(client, reference, category="pharmacy", care_date=care + dt.timedelta(days=8),
                 billed=1000, base=1000, amc=300)
    assert late["reason"] == "outside_check_window"
    in_time = claim(client, reference, category="pharmacy",
                    care_date=care + dt.timedelta(days=7), billed=1000, base=1000, amc=300)
    assert in_time["status"] == "accepted"


def test_a_negative_check_backs_no_claim(client: AppClient, population: Population) -> None:
    for payload in (population.bob.payload("optical"), population.stranger.payload("optical"),
                    population.alice.payload("hospital")):
        reference = check(client, payload)["reference"]
        body = claim(client, reference, category=payload["category"])
        assert (body["status"], body["reason"]) == ("rejected", "check_not_covered")
    # Its calculation leaves the whole complement to the patient.
    body = client.post(f"/api/v1/checks/{reference}/calculation",
                       json={"billed_cents": 2000, "base_tariff_cents": 2000,
                             "amo_rate_bp": 6500}).json()
    assert (body["amo_cents"], body["amc_cents"], body["patient_cents"]) == (1300, 0, 700)
    assert body["allowance_remaining_cents"] is None


def test_one_accepted_claim_per_check_but_a_rejected_one_can_be_corrected(
        client: AppClient, population: Population) -> None:
    reference = check(client, population.alice.payload("optical"))["reference"]
    assert claim(client, reference, amc=20_000)["status"] == "rejected"
    assert claim(client, reference)["status"] == "accepted"
    again = claim(client, reference)
    assert (again["status"], again["reason"]) == ("rejected", "already_claimed")


def test_accepted_claims_consume_the_periodic_allowance(client: AppClient,
                                                        population: Population) -> None:
    # Optical: 150 EUR flat per act, at most 400 EUR per 24 months.
    for _ in range(2):
        reference = check(client, population.alice.payload("optical"))["reference"]
        assert claim(client, reference)["status"] == "accepted"
    third = check(client, population.alice.payload("optical"))
    assert third["guarantee"]["allowance_remaining_cents"] == 10_000
    calculation = client.post(f"/api/v1/checks/{third['reference']}/calculation",
                              json={"billed_cents": 50_000, "base_tariff_cents": 1_000,
                                    "amo_rate_bp": 6000})
    CalculationOut.model_validate(calculation.json())
    assert calculation.json()["amc_cents"] == 10_000
    assert calculation.json()["allowance_remaining_cents"] == 0
    assert claim(client, third["reference"])["reason"] == "amount_above_guarantee"
    assert claim(client, third["reference"], amc=10_000)["status"] == "accepted"
    fourth = check(client, population.alice.payload("optical"))
    assert fourth["guarantee"]["allowance_remaining_cents"] == 0
    # Leo, on the same contract, has his own allowance.
    assert check(client, population.leo.payload("optical"))["guarantee"][
        "allowance_remaining_cents"] == 40_000


def test_the_allowance_period_rolls(client: AppClient, population: Population,
                                    runtime: Runtime) -> None:
    # Consultation: 200 % BR, at most 100 EUR per 12 months.
    early = TODAY - dt.timedelta(days=400)
    old = check(client, population.alice.payload("consultation", care_date=early))
    assert claim(client, old["reference"], category="consultation", care_date=early,
                 billed=10_000, base=5_000, amo_rate=7000, amc=6_500)["status"] == "accepted"
    recent = check(client, population.alice.payload("consultation"))
    assert recent["guarantee"]["allowance_remaining_cents"] == 10_000
    back_then = check(client, population.alice.payload(
        "consultation", care_date=early + dt.timedelta(days=30)))
    assert back_then["guarantee"]["allowance_remaining_cents"] == 3_500


def test_another_organisations_reference_looks_unknown(
        client: AppClient, other_client: AppClient, population: Population) -> None:
    check_reference = check(client, population.alice.payload("optical"))["reference"]
    claim_reference = claim(client, check_reference)["reference"]
    unknown = "A" * 26

    def claim_body(reference: str) -> dict[str, Any]:
        return {"check_reference": reference, "category": "optical",
                "care_date": TODAY.isoformat(), "billed_cents": 1, "base_tariff_cents": 1,
                "amo_rate_bp": 0, "amc_cents": 0}

    bill = {"billed_cents": 1, "base_tariff_cents": 1, "amo_rate_bp": 0}
    attempts = {
        "calculation": lambda ref: other_client.post(f"/api/v1/checks/{ref}/calculation",
                                                     json=bill),
        "claim": lambda ref: other_client.post("/api/v1/claims", json=claim_body(ref)),
    }
    pairs = {name: (call(check_reference), call(unknown)) for name, call in attempts.items()}
    pairs["read claim"] = (other_client.get(f"/api/v1/claims/{claim_reference}"),
                           other_client.get(f"/api/v1/claims/{unknown}"))
    for name, (foreign, missing) in pairs.items():
        assert foreign.status_code == missing.status_code == 404, name
        assert _without_request_id(foreign.json()) == _without_request_id(missing.json()), name
        assert sorted(foreign.headers.keys()) == sorted(missing.headers.keys()), name
    assert other_client.get("/api/v1/claims").json() == {"items": [], "next_cursor": None}


def _without_request_id(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != "request_id"}


def test_own_claims_are_listed_newest_first(client: AppClient, population: Population,
                                            runtime: Runtime) -> None:
    made = []
    for _ in range(3):
        reference = check(client, population.alice.payload("pharmacy"))["reference"]
        made.append(claim(client, reference, category="pharmacy", billed=1000, base=1000,
                          amc=300)["reference"])
        runtime.clock.advance(60)  # type: ignore[attr-defined]
    page = client.get("/api/v1/claims", params={"limit": 2}).json()
    ClaimPageOut.model_validate(page)
    assert [item["reference"] for item in page["items"]] == made[::-1][:2]
    rest = client.get("/api/v1/claims", params={"after": page["next_cursor"]}).json()
    assert [item["reference"] for item in rest["items"]] == made[:1]
    one = client.get(f"/api/v1/claims/{made[0]}").json()
    assert one["reference"] == made[0]


def test_paid_is_an_operator_transition_from_accepted_only(
        app: Any, client: AppClient, population: Population) -> None:
    service = app.state.claim_service
    reference = check(client, population.alice.payload("optical"))["reference"]
    accepted = claim(client, reference)["reference"]
    rejected = claim(client, reference)["reference"]  # already claimed
    paid = service.mark_paid(reference=accepted)
    assert paid.status == "paid"
    assert paid.paid_at is not None
    with pytest.raises(InvalidTransition):
        service.mark_paid(reference=accepted)
    with pytest.raises(InvalidTransition):
        service.mark_paid(reference=rejected)
    with pytest.raises(UnknownReference):
        service.mark_paid(reference="B" * 26)
    # A paid claim still counts against the allowance.
    again = check(client, population.alice.payload("optical"))
    assert again["guarantee"]["allowance_remaining_cents"] == 25_000


def test_claims_and_calculations_are_recorded(client: AppClient, population: Population,
                                              runtime: Runtime) -> None:
    reference = check(client, population.alice.payload("optical"))["reference"]
    client.post(f"/api/v1/checks/{reference}/calculation",
                json={"billed_cents": 50_000, "base_tariff_cents": 1_000, "amo_rate_bp": 6000})
    made = claim(client, reference)["reference"]
    rows = {row.event: row for row in recorded_disclosures(runtime.engine)}
    assert rows["check.calculated"].person_id == population.alice.beneficiary_id
    assert rows["check.calculated"].fields == ("allowance_remaining_cents", "amc_cents")
    assert rows["check.calculated"].reference == reference
    assert rows["claim.submitted"].person_id == population.alice.beneficiary_id
    assert rows["claim.submitted"].reference == made
