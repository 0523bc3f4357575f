"""The identity seam: one source per app; the demo header only exists in demo mode."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from audit_disclosures import recorded_disclosures
from checks_support import AppClient, Population, build_population
from rempart.runtime import Runtime
from rempart.web import DemoHeaderIdentity, create_app
from rempart.web.identity import DEMO_HEADER, DemoModeRequired
from rempart.web.problems import ErrorBody


@pytest.fixture
def population(runtime: Runtime) -> Population:
    return build_population(runtime)


@pytest.fixture
def demo_client(runtime: Runtime, population: Population) -> Iterator[AppClient]:
    demo = dataclasses.replace(runtime.settings, demo_mode=True)
    source = DemoHeaderIdentity(settings=demo, engine=runtime.engine)
    with AppClient(create_app(runtime, identity_source=source)) as client:
        yield client


def test_the_demo_header_cannot_be_built_outside_demo_mode(runtime: Runtime) -> None:
    assert runtime.settings.demo_mode is False
    with pytest.raises(DemoModeRequired):
        DemoHeaderIdentity(settings=runtime.settings, engine=runtime.engine)


def test_the_demo_header_names_the_organisation(demo_client: AppClient,
                                                population: Population,
                                                runtime: Runtime) -> None:
    organisation = population.organisation_ids[1]
    response = demo_client.post("/api/v1/checks", json=population.alice.payload(),
                                headers={DEMO_HEADER: str(organisation)})
    assert response.status_code == 201
    [row] = recorded_disclosures(runtime.engine)
    assert row.organisation_id == organisation
    assert row.client_address == "127.0.0.1"
    listed = demo_client.get("/api/v1/checks", headers={DEMO_HEADER: str(organisation)})
    assert [item["reference"] for item in listed.json()["items"]] == [
        response.json()["reference"]]


def test_a_missing_or_unknown_organisation_is_not_authenticated(
        demo_client: AppClient, population: Population, runtime: Runtime) -> None:
    for header in (None, "", "abc", "99999", "-1", "1" * 12):
        headers = {} if header is None else {DEMO_HEADER: header}
        response = demo_client.post("/api/v1/checks", json=population.alice.payload(),
                                    headers=headers)
        assert response.status_code == 401, header
        assert ErrorBody.model_validate(response.json()).error.code == "not_authenticated"
    assert recorded_disclosures(runtime.engine) == []


def test_the_demo_header_stands_beside_real_authentication_not_instead_of_it(
        demo_client: AppClient, population: Population, runtime: Runtime) -> None:
    # Without the header, the request is authenticated as in any instance: a DPoP token
    # that does not verify is refused by the real check (not by the demo header).
    response = demo_client.post("/api/v1/checks", json=population.alice.payload(),
                                headers={"authorization": "DPoP not-a-token",
                                         "dpop": "not-a-proof"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert recorded_disclosures(runtime.engine) == []
