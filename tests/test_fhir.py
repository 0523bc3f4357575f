"""The check as HL7 FHIR R4: every resource accepted or emitted is validated with the
fhir.resources R4B models (identical to R4 for these resources)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.coverageeligibilityrequest import CoverageEligibilityRequest
from fhir.resources.R4B.coverageeligibilityresponse import CoverageEligibilityResponse
from fhir.resources.R4B.operationoutcome import OperationOutcome
from sqlalchemy import select

from checks_support import TODAY, AppClient, Person, Population, build_population, make_app
from rempart.coverage import fhir
from rempart.coverage.models import Check
from rempart.runtime import Runtime

SUBMIT = "/fhir/r4/CoverageEligibilityRequest/$submit"
FHIR_JSON = {"content-type": "application/fhir+json"}


@pytest.fixture
def population(runtime: Runtime) -> Population:
    return build_population(runtime)


@pytest.fixture
def client(runtime: Runtime, population: Population) -> Iterator[AppClient]:
    with AppClient(make_app(runtime, population)) as test_client:
        yield test_client


def eligibility_request(person: Person, category: str = "pharmacy", **patient: Any
                        ) -> dict[str, Any]:
    resource = {
        "resourceType": "CoverageEligibilityRequest",
        "status": "active",
        "purpose": ["validation", "benefits"],
        "created": "2026-03-02T10:00:00+01:00",
        "patient": {"reference": "#pat"},
        "servicedDate": TODAY.isoformat(),
        "insurer": {"identifier": {"system": fhir.AMC_SYSTEM, "value": person.amc_number}},
        "contained": [
            {"resourceType": "Patient", "id": "pat",
             "identifier": [{"system": fhir.NIR_SYSTEM, "value": person.nir}],
             "birthDate": person.birth_date.isoformat(),
             "multipleBirthInteger": person.birth_rank, **patient},
            {"resourceType": "Coverage", "id": "cov", "status": "active",
             "beneficiary": {"reference": "#pat"},
             "payor": [{"identifier": {"system": fhir.AMC_SYSTEM,
                                       "value": person.amc_number}}],
             "identifier": [{"type": {"coding": [{"system": fhir.MEMBER_TYPE_SYSTEM,
                                                  "code": "MB"}]},
                             "value": person.member_number}]},
        ],
        "insurance": [{"coverage": {"reference": "#cov"}}],
        "item": [{"category": {"coding": [{"system": fhir.CATEGORY_SYSTEM, "code": category}]}}],
    }
    CoverageEligibilityRequest.model_validate(resource)
    return resource


def submit(client: AppClient, resource: dict[str, Any]) -> Any:
    return client.post(SUBMIT, json=resource, headers=FHIR_JSON)


def test_a_covered_patient_gets_a_valid_response_with_the_guarantee(
        client: AppClient, population: Population, runtime: Runtime) -> None:
    response = submit(client, eligibility_request(population.alice, "optical"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    CoverageEligibilityResponse.model_validate(body)
    insurance = body["insurance"][0]
    assert insurance["inforce"] is True
    assert insurance["extension"] == [{"url": fhir.THIRD_PARTY_URL, "valueBoolean": True}]
    benefits = {b["type"]["coding"][0]["code"]: b for b in insurance["item"][0]["benefit"]}
    assert benefits["flat"]["allowedMoney"] == {"value": 150.0, "currency": "EUR"}
    assert benefits["allowance-remaining"]["allowedMoney"] == {"value": 400.0,
                                                               "currency": "EUR"}
    assert benefits["allowance-period-months"]["allowedUnsignedInt"] == 24
    reference = body["identifier"][0]["value"]
    with runtime.engine.connect() as conn:
        stored = conn.execute(select(Check).where(Check.reference == reference)).one()
    assert stored.beneficiary_id == population.alice.beneficiary_id
    for secret in [*population.alice.secrets(), "Zorglubova", "Quentinette", "married"]:
        assert secret not in response.text


def test_base_share_is_given_in_basis_points(client: AppClient,
                                             population: Population) -> None:
    body = submit(client, eligibility_request(population.alice)).json()
    benefit = body["insurance"][0]["item"][0]["benefit"]
    assert benefit == [{"type": {"coding": [{"system": fhir.BENEFIT_SYSTEM,
                                             "code": "base_share"}]},
                        "allowedUnsignedInt": 10_000}]


def test_every_negative_response_is_the_same(client: AppClient,
                                              population: Population) -> None:
    alice = population.alice
    cases = {
        "unknown": eligibility_request(population.stranger),
        "terminated": eligibility_request(population.bob),
        "wrong rank": eligibility_request(alice, multipleBirthInteger=3),
        "wrong birth date": eligibility_request(alice, birthDate="1985-05-16"),
    }
    wrong_member = eligibility_request(alice)
    wrong_member["contained"][1]["identifier"][0]["value"] = "MA0004"
    cases["wrong member number"] = wrong_member
    seen = []
    for name, resource in cases.items():
        response = submit(client, resource)
        assert response.status_code == 200, name
        body = response.json()
        CoverageEligibilityResponse.model_validate(body)
        for volatile in ("id", "identifier", "created"):
            body.pop(volatile)
        seen.append(body)
        assert body["insurance"][0]["inforce"] is False
        assert "benefit" not in body["insurance"][0]["item"][0]
    assert all(body == seen[0] for body in seen)


def test_the_capability_statement_is_valid(client: AppClient) -> None:
    response = client.get("/fhir/r4/metadata")
    assert response.status_code == 200
    CapabilityStatement.model_validate(response.json())


def _bad_requests(population: Population) -> dict[str, tuple[Any, str]]:
    alice = population.alice
    bad_key = eligibility_request(alice)
    bad_key["contained"][0]["identifier"][0]["value"] = alice.nir[:13] + "00"
    no_patient = eligibility_request(alice)
    no_patient["patient"] = {"reference": "#nobody"}
    unknown_category = eligibility_request(alice)
    unknown_category["item"][0]["category"]["coding"][0]["code"] = "astrology"
    far_future = eligibility_request(alice)
    far_future["servicedDate"] = "2031-01-01"
    wrong_type = eligibility_request(alice)
    wrong_type["contained"][0]["multipleBirthInteger"] = "1"
    no_member = eligibility_request(alice)
    no_member["contained"][1]["identifier"] = []
    return {
        "bad NIR key": (bad_key, "Patient.identifier"),
        "dangling patient reference": (no_patient, "CoverageEligibilityRequest.patient"),
        "unknown category": (unknown_category, "CoverageEligibilityRequest.item.category"),
        "date of care far ahead": (far_future, "CoverageEligibilityRequest.servicedDate"),
        "birth rank as text": (
            wrong_type, "CoverageEligibilityRequest.contained[0].multipleBirthInteger"),
        "no member number": (no_member, "Coverage.identifier"),
        "not a CoverageEligibilityRequest": (
            {"resourceType": "Patient", "id": "x"}, "CoverageEligibilityRequest"),
    }


def test_malformed_requests_get_an_operation_outcome_without_the_values(
        client: AppClient, population: Population) -> None:
    for name, (resource, expression) in _bad_requests(population).items():
        response = submit(client, resource)
        assert response.status_code == 422, name
        assert response.headers["content-type"].startswith("application/fhir+json")
        outcome = response.json()
        OperationOutcome.model_validate(outcome)
        expressions = [e for issue in outcome["issue"] for e in issue.get("expression", [])]
        assert any(e.startswith(expression) for e in expressions), (name, expressions)
        for secret in population.alice.secrets():
            assert secret not in response.text, name
    not_json = client.post(SUBMIT, content=b'{"resourceType": "CoverageEl',
                           headers=FHIR_JSON)
    assert not_json.status_code == 422
    assert OperationOutcome.model_validate(not_json.json()).issue[0].code == "structure"


def test_without_identity_the_answer_is_an_operation_outcome(
        runtime: Runtime, population: Population) -> None:
    from rempart.web import create_app
    from rempart.web.identity import NotAuthenticated

    class Nobody:
        async def identify(self, request: Any) -> Any:
            raise NotAuthenticated

    with AppClient(create_app(runtime, identity_source=Nobody())) as anonymous:
        response = submit(anonymous, eligibility_request(population.alice))
    assert response.status_code == 401
    assert OperationOutcome.model_validate(response.json()).issue[0].code == "login"
