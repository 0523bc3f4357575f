"""Trusted proxies: X-Forwarded-For is believed only from a configured proxy, so a
client forging it from elsewhere keeps its own address for limits and the audit log."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from checks_support import AppClient, Population, build_population, make_app
from ops_support import with_settings
from portal_support import PortalEnv, portal_env, sqlite_instance
from rempart.core.errors import ConfigurationError
from rempart.runtime import Runtime
from rempart.web.networks import parse_networks
from rempart.web.proxies import client_from_chain

PROXY = "192.0.2.10"  # the portal tests' browser address: here, the proxy's


@pytest.fixture
def backend() -> str:
    return "sqlite"


def test_the_chain_is_read_from_the_right() -> None:
    proxies = parse_networks("test", ("10.0.0.0/24",))
    assert client_from_chain(["198.51.100.7"], "10.0.0.1", proxies) == "198.51.100.7"
    # The client wrote the first entry itself; the proxy appended the real one.
    assert client_from_chain(["6.6.6.6", "198.51.100.7"], "10.0.0.1", proxies) == \
        "198.51.100.7"
    assert client_from_chain(["198.51.100.7", "10.0.0.2"], "10.0.0.1", proxies) == \
        "198.51.100.7"
    assert client_from_chain(["bogus", "10.0.0.2"], "10.0.0.1", proxies) == "10.0.0.2"
    assert client_from_chain(["198.51.100.7", "<script>"], "10.0.0.1", proxies) == \
        "10.0.0.1"
    assert client_from_chain([], "10.0.0.1", proxies) == "10.0.0.1"


def audited_address(runtime: Runtime, client: AppClient, population: Population,
                    forwarded: str) -> str:
    answer = client.post("/api/v1/checks", json=population.alice.payload(),
                         headers={"x-forwarded-for": forwarded})
    assert answer.status_code == 201
    with runtime.engine.connect() as conn:
        return str(conn.execute(text(
            "SELECT client_address FROM audit_entries WHERE event = 'check.answered' "
            "ORDER BY position DESC LIMIT 1")).scalar_one())


def test_audit_records_the_peer_unless_it_is_a_trusted_proxy(runtime: Runtime) -> None:
    population = build_population(runtime)
    untrusted = with_settings(runtime, trusted_proxies=("10.0.0.5/32",))
    with AppClient(make_app(untrusted, population)) as client:  # the test peer: 127.0.0.1
        assert audited_address(runtime, client, population, "198.51.100.7") == "127.0.0.1"
    with AppClient(make_app(runtime, population)) as client:  # no proxies configured
        assert audited_address(runtime, client, population, "198.51.100.7") == "127.0.0.1"
    trusted = with_settings(runtime, trusted_proxies=("127.0.0.1/32",))
    with AppClient(make_app(trusted, population)) as client:
        assert audited_address(runtime, client, population, "198.51.100.7") == "198.51.100.7"
        assert audited_address(runtime, client, population,
                               "6.6.6.6, 198.51.100.7") == "198.51.100.7"


@pytest.fixture
def portal(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[PortalEnv]:
    trusted: tuple[str, ...] = request.param
    settings = dataclasses.replace(sqlite_instance(tmp_path / "portal"),
                                   trusted_proxies=trusted)
    with portal_env(settings) as env:
        yield env


def forged_failures(env: PortalEnv) -> list[int]:
    """Failed logins on as many accounts, each claiming another client address."""
    browser = env.browser(address=PROXY)
    statuses = []
    for attempt in range(env.auth.settings.throttle_address_free_failures + 2):
        page = browser.get("/portal/login")
        answer = browser.form("/portal/login", page, {
            "login": f"nobody{attempt}@pharmacie.example", "password": "wrong password 123"},
            headers={"x-forwarded-for": f"198.51.100.{attempt + 1}"})
        statuses.append(answer.status_code)
    return statuses


@pytest.mark.parametrize("portal", [("10.0.0.5/32",)], indirect=True)
def test_forging_the_header_does_not_escape_the_address_limit(portal: PortalEnv) -> None:
    statuses = forged_failures(portal)
    assert statuses[-1] == 429  # every attempt was counted against the real peer
    addresses = {event.address for event in portal.events.events if event.address}
    assert addresses == {PROXY}


@pytest.mark.parametrize("portal", [(f"{PROXY}/32",)], indirect=True)
def test_behind_a_trusted_proxy_each_client_has_its_own_limit(portal: PortalEnv) -> None:
    statuses = forged_failures(portal)
    assert 429 not in statuses
    addresses = {event.address for event in portal.events.events if event.address}
    assert len(addresses) == len(statuses)
    assert PROXY not in addresses


@pytest.mark.parametrize(("setting", "name"), [("trusted_proxies", "REMPART_TRUSTED_PROXIES"),
                                               ("metrics_allow", "REMPART_METRICS_ALLOW")])
def test_a_bad_address_list_is_named_at_start_up(runtime: Runtime, setting: str,
                                                 name: str) -> None:
    population = build_population(runtime)
    with pytest.raises(ConfigurationError, match=f"{name}: 'proxy.internal' is not"):
        make_app(with_settings(runtime, **{setting: ("10.0.0.5", "proxy.internal")}),
                 population)
