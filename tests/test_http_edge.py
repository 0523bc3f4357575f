"""The app's edge layer and the fast check behind it, seen from outside: every answer
carries its request id and the security headers (the body cap's 413 included), errors
on the check path are the app's own answers, and the demo address header is checked
and normalised on every request, the cached ones too."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from audit_disclosures import recorded_disclosures
from checks_support import AppClient, Population, build_population, make_app
from rempart.runtime import Runtime
from rempart.web import DemoHeaderIdentity, create_app
from rempart.web.identity import DEMO_ADDRESS_HEADER, DEMO_HEADER
from rempart.web.problems import ErrorBody
from rempart.web.security_headers import CONTENT_SECURITY_POLICY

SECURITY = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer",
            "x-frame-options": "DENY", "content-security-policy": CONTENT_SECURITY_POLICY}


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the HTTP edge does not depend on the backend


@pytest.fixture
def population(runtime: Runtime) -> Population:
    return build_population(runtime)


@pytest.fixture
def capped(runtime: Runtime, population: Population) -> Iterator[AppClient]:
    runtime.settings = dataclasses.replace(runtime.settings, max_body_bytes=1024)
    with AppClient(make_app(runtime, population)) as client:
        yield client


def assert_edge_headers(headers: httpx.Headers, request_id: str) -> None:
    for name, value in SECURITY.items():
        assert headers.get(name) == value, name
    assert headers.get("x-request-id") == request_id


def test_the_body_caps_answer_carries_the_security_headers(
        capped: AppClient, population: Population) -> None:
    declared = capped.post("/api/v1/checks", headers={"x-request-id": "cap-declared-1"},
                           json=population.alice.payload(member_number="M" * 2000))
    assert declared.status_code == 413
    assert declared.json()["request_id"] == "cap-declared-1"
    assert_edge_headers(declared.headers, "cap-declared-1")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 512

    streamed = capped.post("/fhir/r4/CoverageEligibilityRequest/$submit", content=chunks(),
                           headers={"content-type": "application/json",
                                    "x-request-id": "cap-streamed-1"})
    assert streamed.status_code == 413
    assert streamed.json()["resourceType"] == "OperationOutcome"
    assert_edge_headers(streamed.headers, "cap-streamed-1")


def test_the_fast_checks_errors_are_the_apps_answers(capped: AppClient,
                                                    population: Population) -> None:
    malformed = capped.post("/api/v1/checks", content=b'{"nir": ',
                            headers={"content-type": "application/json",
                                     "x-request-id": "bad-json-0001"})
    assert malformed.status_code == 422
    body = ErrorBody.model_validate(malformed.json())
    assert body.request_id == "bad-json-0001"
    assert_edge_headers(malformed.headers, "bad-json-0001")
    answered = capped.post("/api/v1/checks", json=population.alice.payload())
    assert answered.status_code == 201
    assert_edge_headers(answered.headers, answered.headers["x-request-id"])
    # Other methods on the path still reach the routes that serve them.
    assert capped.get("/api/v1/checks").status_code == 200
    assert capped.request("DELETE", "/api/v1/checks").status_code == 405


def test_the_demo_address_is_checked_and_normalised_every_time(
        runtime: Runtime, population: Population) -> None:
    demo = dataclasses.replace(runtime.settings, demo_mode=True)
    source = DemoHeaderIdentity(settings=demo, engine=runtime.engine)
    organisation = str(population.organisation_ids[0])
    with AppClient(create_app(runtime, identity_source=source)) as client:
        for _ in range(2):  # the second time from the parsed-address cache
            for address in ("10.0.0.300", "not an address", "2001:db8::1/64"):
                refused = client.post("/api/v1/checks", json=population.alice.payload(),
                                      headers={DEMO_HEADER: organisation,
                                               DEMO_ADDRESS_HEADER: address})
                assert refused.status_code == 401, address
            answered = client.post("/api/v1/checks", json=population.alice.payload(),
                                   headers={DEMO_HEADER: organisation,
                                            DEMO_ADDRESS_HEADER: "2001:DB8:0::1"})
            assert answered.status_code == 201
    addresses = [row.client_address for row in recorded_disclosures(runtime.engine)]
    assert addresses == ["2001:db8::1", "2001:db8::1"]
