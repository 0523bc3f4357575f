"""PostgreSQL connections held by an app answering DPoP checks stay bounded: a key
checked 40 times, one stepped up and ignoring it until the guard suspends it (its
refusals, its code, its alerts), leaves as many server backends as the first checks did.

Under httpx's ASGITransport each request is its own root task, so anyio gives each a new
worker thread: each thread's driver connection (rempart.storage.thread_connections) was
kept open after its thread ended, one more backend per request, until the server
answered "too many clients"."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine.url import make_url

from auth_support import DpopClient
from portal_support import PortalEnv, fresh, shared_portal
from test_api_step_up import ELSEWHERE, HOME, Key, _code, _software, _stepped_up_key

SERVER = os.environ.get("REMPART_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
CHECKS = 40
# Pool connections opened while a request overlaps another (the revocation poll): slack.
SLACK = 2


@pytest.fixture(scope="module", params=[pytest.param("postgres", marks=pytest.mark.postgres)])
def module_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalEnv]:
    yield from shared_portal(request, tmp_path_factory)


@pytest.fixture
def env(module_env: PortalEnv) -> PortalEnv:
    return fresh(module_env)


def backends(env: PortalEnv) -> int:
    """Server backends connected to the app's database (counted from another one)."""
    with psycopg.connect(SERVER, autocommit=True) as admin:
        row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                            (make_url(env.runtime.settings.database_url).database,)).fetchone()
    assert row is not None
    return int(row[0])


def test_checks_of_a_key_driven_to_suspension_hold_no_more_connections(
        env: PortalEnv) -> None:
    key, answer = _stepped_up_key(env, _software(env))
    _code(answer)
    before = backends(env)
    away = env.browser(address=ELSEWHERE)
    codes = []
    for _ in range(CHECKS):
        env.clock.advance(2)
        codes.append(key.check(away).json()["error"]["code"])
    assert codes[0] == "step_up_required"
    assert codes[-1] == "session_revoked"  # suspended by the guard on the way
    assert backends(env) <= before + SLACK


def test_plain_checks_hold_no_more_connections(env: PortalEnv) -> None:
    key = Key(env, *_software(env), dpop=DpopClient(env.clock))
    home = env.browser(address=HOME)
    key.issue(home)
    assert key.check(home).status_code == 201
    before = backends(env)
    for _ in range(CHECKS):
        env.clock.advance(2)
        key.check(home)
    assert backends(env) <= before + SLACK
