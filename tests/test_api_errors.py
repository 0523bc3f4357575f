"""Bad input over HTTP: a clear machine-readable error, no echo of any value, no change."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from audit_disclosures import count_disclosures
from checks_support import TODAY, AppClient, Population, build_population, make_app
from rempart.coverage.models import Check
from rempart.runtime import Runtime
from rempart.web import create_app
from rempart.web.identity import NotAuthenticated
from rempart.web.problems import ErrorBody


@pytest.fixture
def population(runtime: Runtime) -> Population:
    return build_population(runtime)


@pytest.fixture
def client(runtime: Runtime, population: Population) -> Iterator[AppClient]:
    with AppClient(make_app(runtime, population)) as test_client:
        yield test_client


def bad_checks(population: Population) -> dict[str, tuple[Any, str]]:
    """Each malformed body, and the field its error must name."""
    alice = population.alice
    good = alice.payload()
    far_past = TODAY.replace(year=TODAY.year - 5)
    far_future = TODAY.replace(year=TODAY.year + 5)
    return {
        "bad NIR key": (alice.payload(nir=alice.nir[:13] + "01"), "nir"),
        "NIR too short": (alice.payload(nir=alice.nir[:14]), "nir"),
        "birth rank as text": (alice.payload(birth_rank="1"), "birth_rank"),
        "birth rank zero": (alice.payload(birth_rank=0), "birth_rank"),
        "birth date as a number": (alice.payload(birth_date=485654400), "birth_date"),
        "birth date in the future": (alice.payload(birth_date=far_future.isoformat()),
                                     "birth_date"),
        "birth date not a date": (alice.payload(birth_date="1985-02-30"), "birth_date"),
        "unknown category": (alice.payload(category="astrology"), "category"),
        "care date far back": (alice.payload(care_date=far_past), "care_date"),
        "care date far ahead": (alice.payload(care_date=far_future), "care_date"),
        "member number with spaces inside": (alice.payload(member_number="MA 0001"),
                                             "member_number"),
        "missing member number": ({k: v for k, v in good.items() if k != "member_number"},
                                  "member_number"),
        "an extra field": ({**good, alice.nir: alice.member_number}, "body"),
        "a list": ([good], "body"),
    }


def test_malformed_checks_are_422_naming_the_field_never_the_value(
        client: AppClient, population: Population, runtime: Runtime) -> None:
    for name, (body, field) in bad_checks(population).items():
        response = client.post("/api/v1/checks", json=body)
        assert response.status_code == 422, name
        error = ErrorBody.model_validate(response.json())
        assert error.error.code == "invalid_request", name
        assert field in [f.field for f in error.error.fields], (name, error.error.fields)
        for secret in [*population.alice.secrets(), "485654400", "astrology", "MA 0001"]:
            assert secret not in response.text, (name, secret)
    assert _rows(runtime) == (0, 0)


def test_malformed_json_is_422_and_says_so(client: AppClient, population: Population,
                                           runtime: Runtime) -> None:
    text = '{"nir": "' + population.alice.nir + '", "birth_date": '
    response = client.post("/api/v1/checks", content=text.encode(),
                           headers={"content-type": "application/json"})
    assert response.status_code == 422
    error = ErrorBody.model_validate(response.json()).error
    assert error.code == "malformed_json"
    assert population.alice.nir not in response.text
    assert _rows(runtime) == (0, 0)


def test_bad_calculations_and_claims_are_422(client: AppClient,
                                             population: Population) -> None:
    reference = client.post("/api/v1/checks",
                            json=population.alice.payload()).json()["reference"]
    for bill in ({"billed_cents": -1, "base_tariff_cents": 0, "amo_rate_bp": 0},
                 {"billed_cents": 1, "base_tariff_cents": 0, "amo_rate_bp": 10_001},
                 {"billed_cents": 1.5, "base_tariff_cents": 0, "amo_rate_bp": 0}):
        response = client.post(f"/api/v1/checks/{reference}/calculation", json=bill)
        assert response.status_code == 422
        ErrorBody.model_validate(response.json())
    future_claim = {"check_reference": reference, "category": "pharmacy",
                    "care_date": TODAY.replace(year=TODAY.year + 1).isoformat(),
                    "billed_cents": 1, "base_tariff_cents": 1, "amo_rate_bp": 0,
                    "amc_cents": 0}
    response = client.post("/api/v1/claims", json=future_claim)
    assert response.status_code == 422
    assert [f.field for f in ErrorBody.model_validate(response.json()).error.fields] == [
        "care_date"]
    assert client.get("/api/v1/claims").json()["items"] == []
    assert client.get("/api/v1/checks/nope/calculation").status_code == 405
    assert client.get("/api/v1/claims/not-a-reference").status_code == 422


def test_without_an_identity_nothing_is_answered(runtime: Runtime,
                                                 population: Population) -> None:
    class Nobody:
        async def identify(self, request: Any) -> Any:
            raise NotAuthenticated

    with AppClient(create_app(runtime, identity_source=Nobody())) as anonymous:
        response = anonymous.post("/api/v1/checks", json=population.alice.payload())
        assert response.status_code == 401
        assert ErrorBody.model_validate(response.json()).error.code == "not_authenticated"
        assert anonymous.get("/api/v1/claims").status_code == 401
    assert _rows(runtime) == (0, 0)


def test_nothing_personal_reaches_the_logs(client: AppClient, population: Population,
                                           caplog: pytest.LogCaptureFixture,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    for body, _ in bad_checks(population).values():
        client.post("/api/v1/checks", json=body)
    client.post("/api/v1/checks", json=population.alice.payload())
    client.post("/api/v1/checks", json=population.stranger.payload())
    captured = capsys.readouterr()
    logged = caplog.text + captured.out + captured.err
    assert "request refused" in logged  # the logs do say something...
    for person in (population.alice, population.stranger):
        for secret in person.secrets():
            assert secret not in logged  # ...but never who


def _rows(runtime: Runtime) -> tuple[int, int]:
    with runtime.engine.connect() as conn:
        checks = conn.execute(select(func.count()).select_from(Check)).scalar_one()
    return checks, count_disclosures(runtime.engine)
