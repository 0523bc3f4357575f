"""Rate limits on member links (/moi/historique and /api/v1/me/): per client address and
per link subject, on the memory storage and on Redis; 429 with Retry-After, and nothing
written to the audit log for a refused flood; an unreachable Redis refuses (503)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from sqlalchemy import func, select

from checks_support import Population, build_population, make_app
from guard_fixtures import REDIS_URL
from member_support import HttpsClient, Insurers, register_insurers
from rempart.audit.models import AuditEntry
from rempart.auth.throttle_storage import make_limiter
from rempart.clock import ManualClock
from rempart.member.throttle import MemberLimits, MemberThrottle, link_subject
from rempart.member.web import build_member_area
from rempart.runtime import Runtime

PAGE = "/moi/historique"
API = "/api/v1/me/history"
LIMITS = MemberLimits(per_address=12, per_subject=4, window_s=600)


@pytest.fixture
def population(runtime: Runtime) -> Population:
    return build_population(runtime)


@pytest.fixture
def insurers(runtime: Runtime, population: Population) -> Insurers:
    return register_insurers(runtime)


@pytest.fixture(params=["memory", "redis"])
def storage(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "memory":
        yield "memory://"
        return
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis unavailable: {exc}")
    yield REDIS_URL
    client.close()


def member_app(runtime: Runtime, population: Population, storage: str,
               limits: MemberLimits = LIMITS) -> Any:
    app = make_app(runtime, population)
    throttle = MemberThrottle(limiter=make_limiter(storage, runtime.clock),
                              clock=runtime.clock, limits=limits)
    app.state.member_area = build_member_area(runtime, audit=app.state.audit_log,
                                              throttle=throttle)
    return app


def unique_limits() -> MemberLimits:
    """Redis keys of one test never meet another's (the server keeps them 10 minutes)."""
    return MemberLimits(per_address=LIMITS.per_address, per_subject=LIMITS.per_subject,
                        window_s=LIMITS.window_s, namespace=f"rempart-t-{uuid.uuid4().hex}")


def audit_count(runtime: Runtime) -> int:
    with runtime.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.event.like("member.%"))).scalar_one())


def api(member: HttpsClient, token: str) -> Any:
    return member.get(API, headers={"authorization": f"Bearer {token}"})


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_links_about_one_member_are_limited_per_subject(
        runtime: Runtime, population: Population, insurers: Insurers, storage: str,
        capfd: pytest.CaptureFixture[str]) -> None:
    app = member_app(runtime, population, storage, unique_limits())
    alice, carol = population.alice, population.carol
    with HttpsClient(app) as member:
        for _ in range(LIMITS.per_subject):
            assert api(member, insurers.link(alice)).status_code == 200
        written = audit_count(runtime)
        # Valid or forged, a link naming Alice now waits; nothing more is audited.
        forged = insurers.link(alice, key=insurers.keys[carol.amc_number],
                               amc=alice.amc_number)
        for token in (insurers.link(alice), forged):
            refused = api(member, token)
            assert refused.status_code == 429
            assert refused.json()["error"]["code"] == "rate_limited"
            assert 0 < int(refused.headers["retry-after"]) <= LIMITS.window_s
        page = member.post(PAGE, data={"token": insurers.link(alice), "lang": "en"})
        assert page.status_code == 429
        assert "Too many requests" in page.text
        assert audit_count(runtime) == written
        # Another member from the same address is not held back.
        assert api(member, insurers.link(carol)).status_code == 200
        logged = "".join(capfd.readouterr())
        assert "member links throttled" in logged
        for personal in (alice.member_number, alice.nir, forged):
            assert personal not in logged
        if storage == "memory://":
            assert isinstance(runtime.clock, ManualClock)
            runtime.clock.advance(LIMITS.window_s + 1)
            assert api(member, insurers.link(alice)).status_code == 200


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_refused_links_from_one_address_are_limited(
        runtime: Runtime, population: Population, insurers: Insurers, storage: str) -> None:
    app = member_app(runtime, population, storage, unique_limits())
    with HttpsClient(app) as member:
        for i in range(LIMITS.per_address):
            assert api(member, f"garbage-{i}").status_code == 401
        written = audit_count(runtime)
        assert written == LIMITS.per_address  # one member.link_refused each
        for token in ("garbage", insurers.link(population.carol)):
            assert api(member, token).status_code == 429
        assert member.post(PAGE, data={"token": "x"}).status_code == 429
        assert audit_count(runtime) == written


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_unreachable_limit_storage_refuses_links(
        runtime: Runtime, population: Population, insurers: Insurers) -> None:
    app = member_app(runtime, population, "redis://127.0.0.1:1/0")
    with HttpsClient(app) as member:
        answer = api(member, insurers.link(population.alice))
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "30"
        assert "items" not in answer.text
        page = member.post(PAGE, data={"token": insurers.link(population.alice)})
        assert page.status_code == 503
        assert page.headers["retry-after"] == "30"
        assert "set-cookie" not in page.headers
    assert audit_count(runtime) == 0


def test_the_subject_key_is_a_hash_of_issuer_and_member() -> None:
    assert link_subject("a.b") is None
    assert link_subject("x.!!!.y") is None
    assert link_subject("x.eyJpc3MiOjF9.y") is None  # {"iss":1}
    key = link_subject("x.eyJpc3MiOiIxMjMiLCJzdWIiOiJNMSJ9.y")  # {"iss":"123","sub":"M1"}
    assert key is not None
    assert len(key) == 32
    assert "M1" not in key
