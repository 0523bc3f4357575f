"""The client's autonomous system from a trusted proxy's header (rempart.web.proxies):
believed from a configured proxy only, a malformed value ignored and logged without
the value or the client, and carried to the guard, which steps up a session that
changes AS mid-way."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from checks_support import AppClient, build_population, make_app
from ops_support import with_settings
from rempart.core.errors import ConfigurationError
from rempart.runtime import Runtime
from rempart.settings import Settings
from rempart.web.networks import parse_networks
from rempart.web.proxies import NETWORK_SCOPE_KEY, TrustedProxyMiddleware, parse_network

HEADER = "x-rempart-asn"
CHECKS = "/api/v1/checks"


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.mark.parametrize(("raw", "parsed"), [
    ("AS64500", "AS64500"), ("as64500", "AS64500"), ("64500", "AS64500"),
    (" AS3215 ", "AS3215"), ("AS4294967295", "AS4294967295"), ("AS0", None), ("0", None),
    ("AS4294967296", None), ("AS", None), ("", None), ("-", None), ("AS64500x", None),
    ("AS-1", None), ("AS 64500", None), ("12345678901", None), ("AS６４５００", None),
    ("AS64500,AS64501", None)])
def test_an_as_number_is_read_strictly(raw: str, parsed: str | None) -> None:
    assert parse_network(raw) == parsed


def _seen(peer: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The scope the app behind the middleware gets (proxies 10.0.0.0/24)."""
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)

    middleware = TrustedProxyMiddleware(app, networks=parse_networks("test", ("10.0.0.0/24",)),
                                        network_header="X-Rempart-ASN")
    scope = {"type": "http", "client": (peer, 4000), "headers": headers}
    asyncio.run(middleware(scope, None, None))  # type: ignore[arg-type]
    return seen


def test_the_header_is_believed_from_a_trusted_proxy_only() -> None:
    header = (HEADER.encode(), b"AS64500")
    trusted = _seen("10.0.0.1", [(b"x-forwarded-for", b"198.51.100.7"), header])
    assert trusted[NETWORK_SCOPE_KEY] == "AS64500"
    assert trusted["client"] == ("198.51.100.7", 0)
    # Sent by the client itself: nothing, whatever it claims.
    assert NETWORK_SCOPE_KEY not in _seen("198.51.100.7", [header])
    assert NETWORK_SCOPE_KEY not in _seen("10.0.1.1", [header])
    # Without the header: unknown.
    assert NETWORK_SCOPE_KEY not in _seen("10.0.0.1", [])


def test_a_malformed_value_is_ignored_and_logged_without_it(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="rempart.web.proxies"):
        for value in (b"AS64500; drop", b"x" * 200, b"AS99999999999"):
            assert NETWORK_SCOPE_KEY not in _seen("10.0.0.1", [(HEADER.encode(), value)])
        # Twice (the client's copy passed on beside the proxy's): neither is believed.
        assert NETWORK_SCOPE_KEY not in _seen("10.0.0.1", [(HEADER.encode(), b"AS64500"),
                                                          (HEADER.encode(), b"AS64501")])
    assert len(caplog.records) == 4
    for record in caplog.records:
        text = record.getMessage() + repr(record.__dict__)
        assert "drop" not in text
        assert "xxxx" not in text
        assert "99999999999" not in text
        assert "198.51.100" not in text
    caplog.clear()
    # What an ASN database answers for an address it does not hold: unknown, not logged.
    with caplog.at_level(logging.WARNING, logger="rempart.web.proxies"):
        for value in (b"", b"-", b"0", b"AS0"):
            assert NETWORK_SCOPE_KEY not in _seen("10.0.0.1", [(HEADER.encode(), value)])
    assert not caplog.records


def test_the_header_setting_is_a_header_name(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Any) -> None:
    monkeypatch.setenv("REMPART_NETWORK_HEADER", "X-Rempart-ASN")
    assert Settings.load(data_dir=tmp_path).network_header == HEADER
    monkeypatch.setenv("REMPART_NETWORK_HEADER", "X-Rempart ASN: 1")
    with pytest.raises(ConfigurationError, match="REMPART_NETWORK_HEADER"):
        Settings.load(data_dir=tmp_path)
    monkeypatch.delenv("REMPART_NETWORK_HEADER")
    assert Settings.load(data_dir=tmp_path).network_header is None


def _moves(runtime: Runtime, proxies: tuple[str, ...]) -> list[int]:
    """One session's checks, its AS changing on the third (same address)."""
    population = build_population(runtime)
    served = with_settings(runtime, trusted_proxies=proxies, network_header=HEADER)
    statuses = []
    with AppClient(make_app(served, population, guard=True)) as client:
        for network in ("AS64500", "AS64500", "AS64501"):
            answer = client.post(CHECKS, json=population.alice.payload(),
                                 headers={HEADER: network})
            statuses.append(answer.status_code)
            runtime.clock.advance(120)  # type: ignore[attr-defined]
    return statuses


def test_served_a_session_that_changes_as_is_stepped_up(runtime: Runtime) -> None:
    # From a trusted proxy (the test client's peer is 127.0.0.1).
    statuses = _moves(runtime, ("127.0.0.1/32",))
    assert statuses[:2] == [201, 201]
    assert statuses[2] in {401, 403}


def test_served_a_forged_header_from_elsewhere_gains_and_costs_nothing(
        runtime: Runtime) -> None:
    assert _moves(runtime, ("10.0.0.5/32",)) == [201, 201, 201]
