"""Login throttling on `limits`' Redis storage, against the real Redis: the per-account,
per-address and global windows, the growing delay, no account enumeration, and two app
instances that share one limit through Redis.

`limits`' Redis storage (5.8) stamps its windows with the writing process's system
clock, so these tests run on the system clock (the throttle compares its clock with the
windows' reset times).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from auth_support import PASSWORD, TEST_AUTH, add_organisations
from guard_fixtures import REDIS_URL, redis_prefix
from rempart.auth.client import ClientInfo
from rempart.auth.config import AuthSettings
from rempart.auth.errors import InvalidCredentials, LoginThrottled
from rempart.auth.events import MemoryEventSink
from rempart.auth.roles import Role
from rempart.auth.services import AuthServices
from rempart.auth.throttle import Attempt, LoginThrottle
from rempart.auth.throttle_storage import make_limiter
from rempart.auth.tokens import ContactFields
from rempart.clock import SystemClock
from rempart.runtime import Runtime
from rempart.settings import Settings

# The service-wide window is tested on its own (its namespace is shared by every
# LoginService on this Redis, other test runs included).
REDIS_AUTH = dataclasses.replace(TEST_AUTH, throttle_storage=REDIS_URL,
                                 throttle_global_failures_per_minute=10**6)
WRONG = "not the password at all"


@pytest.fixture
def namespace() -> Iterator[str]:
    """A throttle namespace of this test's own; its keys are deleted afterwards."""
    with redis_prefix() as name:
        yield name


def redis_throttle(namespace: str, cfg: AuthSettings = REDIS_AUTH) -> LoginThrottle:
    clock = SystemClock()
    return LoginThrottle(limiter=make_limiter(cfg.throttle_storage, clock), clock=clock,
                         settings=cfg, namespace=namespace)


def close_to(wait: float, expected: float) -> bool:
    # The window's reset time is the writer's system clock plus the delay, the clock the
    # throttle reads here: only the time between the hit and the question separates them.
    return expected - 1.0 < wait <= expected


def test_delays_grow_per_account_after_its_free_failures(namespace: str) -> None:
    gate = redis_throttle(namespace)
    free = REDIS_AUTH.throttle_account_free_failures
    for n in range(free):  # a new address each time: only the account's scope counts
        attempt = Attempt(login_key="account", address=f"192.0.2.{n + 1}")
        assert gate.retry_after(attempt) == 0
        gate.failed(attempt)
    waits = []
    for n in range(4):
        attempt = Attempt(login_key="account", address=f"198.51.100.{n + 1}")
        waits.append(gate.retry_after(attempt))
        gate.failed(attempt)
    assert [close_to(w, e) for w, e in zip(waits, [1, 2, 4, 8], strict=True)] == [True] * 4
    # Another login from those addresses is not slowed down by this account's failures.
    assert gate.retry_after(Attempt(login_key="someone-else", address="198.51.100.1")) == 0


def test_an_address_is_limited_across_logins(namespace: str) -> None:
    gate = redis_throttle(namespace)
    for n in range(REDIS_AUTH.throttle_address_free_failures):
        gate.failed(Attempt(login_key=f"login-{n}", address="203.0.113.9"))
    assert close_to(gate.retry_after(Attempt(login_key="fresh", address="203.0.113.9")), 1)
    assert gate.retry_after(Attempt(login_key="fresh", address="203.0.113.10")) == 0


def test_a_global_wave_of_failures_shrinks_every_free_allowance(namespace: str) -> None:
    cfg = dataclasses.replace(REDIS_AUTH, throttle_global_failures_per_minute=10)
    gate = redis_throttle(namespace, cfg)
    spread = [Attempt(login_key=f"login-{n}", address=f"192.0.2.{n + 1}") for n in range(10)]
    assert not gate.under_attack()
    for attempt in spread:
        gate.failed(attempt)
    assert gate.under_attack()
    victim = Attempt(login_key="victim", address="198.51.100.77")
    gate.failed(victim)  # a single failure is no longer free
    assert close_to(gate.retry_after(victim), 1)


def test_waiting_the_delay_out_always_lets_the_attempt_through(namespace: str) -> None:
    gate = redis_throttle(namespace)
    attempt = Attempt(login_key="owner", address="192.0.2.50")
    for _ in range(REDIS_AUTH.throttle_account_free_failures):
        gate.failed(attempt)
    wait = gate.retry_after(attempt)
    assert close_to(wait, 1)
    time.sleep(wait + 0.05)
    assert gate.retry_after(attempt) == 0


# -- through the login service -------------------------------------------------------


@pytest.fixture
def runtime(tmp_path: Path, namespace: str) -> Iterator[Runtime]:
    """An instance on the system clock (Redis keeps the windows' time)."""
    del namespace  # required for its Redis check and clean-up
    settings = Settings.load(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'r.db'}",
                             key_file=tmp_path / "keyring.json")
    with Runtime.open(settings, create_keys=True) as opened:
        yield opened


def app_instance(runtime: Runtime, cfg: AuthSettings = REDIS_AUTH) -> AuthServices:
    """What one app process builds: its own services, limiter and storage connection."""
    return AuthServices.build(runtime, events=MemoryEventSink(), settings=cfg)


def fresh_address() -> str:
    """An address no other run used: the login service's Redis keys are not per test."""
    return str(ipaddress.IPv4Address(0x0A000000 + secrets.randbelow(2**24)))


def failed_login(services: AuthServices, login: str, address: str) -> None:
    with pytest.raises(InvalidCredentials):
        services.login.password_login(login=login, password=WRONG,
                                      client=ClientInfo(address=address))


def throttled_wait(services: AuthServices, login: str, address: str) -> float:
    with pytest.raises(LoginThrottled) as caught:
        services.login.password_login(login=login, password=PASSWORD,
                                      client=ClientInfo(address=address))
    return caught.value.retry_after


def test_an_unknown_login_is_throttled_exactly_like_a_wrong_password(
        runtime: Runtime) -> None:
    org, _, _ = add_organisations(runtime)
    services = app_instance(runtime)
    known = f"{uuid.uuid4().hex[:10]}@pharmacie.example"
    unknown = f"{uuid.uuid4().hex[:10]}@pharmacie.example"
    services.accounts.create_account(contact=ContactFields(known, "Marie Testeuse"),
                                     password=PASSWORD, role=Role.PROVIDER_USER,
                                     organisation_id=org)
    waits = {}
    for login in (known, unknown):
        for _ in range(REDIS_AUTH.throttle_account_free_failures):
            failed_login(services, login, fresh_address())
        waits[login] = throttled_wait(services, login, fresh_address())
    assert close_to(waits[known], 1)
    assert close_to(waits[unknown], 1)


def test_two_app_instances_sharing_redis_share_the_limit(runtime: Runtime) -> None:
    org, _, _ = add_organisations(runtime)
    first, second = app_instance(runtime), app_instance(runtime)
    login = f"{uuid.uuid4().hex[:10]}@pharmacie.example"
    first.accounts.create_account(contact=ContactFields(login, "Marie Testeuse"),
                                  password=PASSWORD, role=Role.PROVIDER_USER,
                                  organisation_id=org)
    for _ in range(REDIS_AUTH.throttle_account_free_failures):
        failed_login(first, login, fresh_address())
    # The other instance refuses at once, even with the right password.
    assert close_to(throttled_wait(second, login, fresh_address()), 1)
    # Each instance on its own memory would not have seen the first one's failures.
    alone = app_instance(runtime, dataclasses.replace(REDIS_AUTH, throttle_storage="memory://"))
    result = alone.login.password_login(login=login, password=PASSWORD,
                                        client=ClientInfo(address=fresh_address()))
    assert result.session.token
