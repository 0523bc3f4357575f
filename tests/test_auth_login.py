"""Password login, no account enumeration, and throttling that never locks honest users out."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from auth_support import (
    BACKENDS,
    PASSWORD,
    TEST_AUTH,
    TEST_HASH_PREFIX,
    AuthEnv,
    auth_env,
    backend_settings,
    fresh,
    shared_env,
    totp_now,
)
from rempart.auth.config import AuthSettings
from rempart.auth.errors import (
    InvalidCredentials,
    InvalidInput,
    InvalidSecondFactor,
    LoginThrottled,
)
from rempart.auth.events import EventKind, LogEventSink, SecurityEvent
from rempart.auth.models import Account
from rempart.auth.passwords import PasswordHasher
from rempart.auth.services import AuthServices
from rempart.auth.session_store import SessionLevel
from rempart.auth.throttle import Attempt

WRONG = "definitely not the password"


@pytest.fixture(scope="module", params=BACKENDS)
def module_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthEnv]:
    yield from shared_env(request, tmp_path_factory)


@pytest.fixture
def env(module_env: AuthEnv) -> AuthEnv:
    return fresh(module_env)


def fail(env: AuthEnv, login: str, address: str, device: str | None = None) -> None:
    with pytest.raises(InvalidCredentials):
        env.auth.login.password_login(login=login, password=WRONG,
                                      client=env.client(address=address, device=device))


def assert_no_secret_in(events: list[SecurityEvent], *secrets: str) -> None:
    for event in events:
        text = repr(dataclasses.asdict(event)).lower()
        for secret in secrets:
            assert secret.lower() not in text, f"{event.kind} carries a secret"


# -- answers -----------------------------------------------------------------------


def test_a_password_opens_only_a_password_level_session(env: AuthEnv) -> None:
    _, email = env.account()
    result = env.auth.login.password_login(login=email, password=PASSWORD, client=env.client())
    assert result.session.view.level is SessionLevel.PASSWORD
    assert result.must_enrol
    assert len(result.session.token) >= 43  # 256 bits, base64url
    assert result.session.device_token


def test_unknown_login_and_wrong_password_get_the_same_answer(env: AuthEnv) -> None:
    _, email = env.account()
    with pytest.raises(InvalidCredentials) as wrong_password:
        env.auth.login.password_login(login=email, password=WRONG, client=env.client())
    with pytest.raises(InvalidCredentials) as unknown_login:
        env.auth.login.password_login(login="nobody@pharmacie.example", password=WRONG,
                                      client=env.client())
    assert str(wrong_password.value) == str(unknown_login.value) == "login or password incorrect"
    failed = env.events.of_kind(EventKind.LOGIN_FAILED)
    assert [e.reason for e in failed] == ["wrong_password", "unknown_login"]
    assert_no_secret_in(env.events.events, WRONG, email, "nobody@pharmacie")


def test_the_login_is_matched_without_case_or_spaces(env: AuthEnv) -> None:
    _, email = env.account()
    env.auth.login.password_login(login=f"  {email.upper()} ", password=PASSWORD,
                                  client=env.client())


@pytest.mark.parametrize(("login", "password", "field"), [
    ("", PASSWORD, "login"),
    ("x" * 255, PASSWORD, "login"),
    ("someone@pharmacie.example", "p" * 257, "password"),
])
def test_oversized_or_empty_fields_are_refused_by_name(env: AuthEnv, login: str, password: str,
                                                       field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        env.auth.login.password_login(login=login, password=password, client=env.client())
    assert caught.value.field == field


def test_a_successful_login_upgrades_an_old_hash(env: AuthEnv) -> None:
    account_id, email = env.account()
    weak = PasswordHasher(AuthSettings(argon2_time_cost=1, argon2_memory_kib=1024))
    with env.runtime.engine.begin() as conn:
        conn.execute(Account.__table__.update().where(Account.id == account_id)
                     .values(password_hash=weak.hash(PASSWORD)))
    env.auth.login.password_login(login=email, password=PASSWORD, client=env.client())
    with env.runtime.engine.connect() as conn:
        stored = conn.scalar(select(Account.password_hash).where(Account.id == account_id))
    assert stored is not None
    assert stored.startswith(TEST_HASH_PREFIX)  # the parameters now configured


def test_a_failed_login_does_not_upgrade_the_hash(env: AuthEnv) -> None:
    account_id, email = env.account()
    weak_hash = PasswordHasher(AuthSettings(argon2_time_cost=1,
                                            argon2_memory_kib=1024)).hash(PASSWORD)
    with env.runtime.engine.begin() as conn:
        conn.execute(Account.__table__.update().where(Account.id == account_id)
                     .values(password_hash=weak_hash))
    fail(env, email, env.address())
    with env.runtime.engine.connect() as conn:
        assert conn.scalar(select(Account.password_hash)
                           .where(Account.id == account_id)) == weak_hash


# -- throttling -----------------------------------------------------------------------


def test_delays_grow_after_the_free_failures_and_stay_bounded(env: AuthEnv) -> None:
    _, email = env.account()
    address = env.address()
    for _ in range(5):  # free failures
        fail(env, email, address)
    waits = []
    for _ in range(9):
        with pytest.raises(LoginThrottled) as caught:
            env.auth.login.password_login(login=email, password=PASSWORD,
                                          client=env.client(address=address))
        waits.append(caught.value.retry_after)
        env.clock.advance(caught.value.retry_after)
        fail(env, email, address)
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert env.events.of_kind(EventKind.LOGIN_THROTTLED)


def test_an_honest_user_gets_in_after_the_bounded_delay(env: AuthEnv) -> None:
    """However long an attacker keeps failing, the owner waits at most the ceiling
    after the attacker's last failure, then gets in from a new browser."""
    _, email = env.account()
    attacker = env.address()
    failures = 0
    while failures < 12:  # enough to reach the ceiling (1, 2, 4 ... 32, 60 s)
        try:
            fail(env, email, attacker)
            failures += 1
        except LoginThrottled as exc:
            env.clock.advance(exc.retry_after)
    env.clock.advance(60)  # the configured ceiling
    result = env.auth.login.password_login(login=email, password=PASSWORD,
                                           client=env.client(address=env.address()))
    assert result.session.view.level is SessionLevel.PASSWORD


def test_a_throttled_attempt_is_refused_even_with_the_right_password(env: AuthEnv) -> None:
    _, email = env.account()
    address = env.address()
    for _ in range(5):
        fail(env, email, address)
    with pytest.raises(LoginThrottled):
        env.auth.login.password_login(login=email, password=PASSWORD,
                                      client=env.client(address=address))


def test_a_known_device_is_not_slowed_by_an_attack_on_its_account(env: AuthEnv) -> None:
    _, email = env.account()
    session, _, _ = env.with_totp(email)  # the owner's browser becomes a known device
    for _ in range(12):
        with contextlib.suppress(LoginThrottled):
            fail(env, email, env.address())
    with pytest.raises(LoginThrottled):  # a new browser must wait...
        env.auth.login.password_login(login=email, password=PASSWORD,
                                      client=env.client(address=env.address()))
    result = env.auth.login.password_login(  # ...the owner's does not
        login=email, password=PASSWORD,
        client=env.client(address=env.address(), device=session.device_token))
    assert result.methods == ["totp", "recovery"]


def test_unknown_logins_are_throttled_exactly_like_known_ones(env: AuthEnv) -> None:
    _, email = env.account()
    outcomes = {}
    for login in (email, "ghost@pharmacie.example"):
        address = env.address()
        steps = []
        for _ in range(8):
            try:
                fail(env, login, address)
                steps.append("failed")
            except LoginThrottled as exc:
                steps.append(f"wait {exc.retry_after}")
                env.clock.advance(exc.retry_after)
        outcomes[login] = steps
    assert outcomes[email] == outcomes["ghost@pharmacie.example"]
    assert "wait 1" in outcomes[email]


def test_one_address_spraying_many_logins_is_slowed(env: AuthEnv) -> None:
    sprayer = env.address()
    for n in range(20):  # one failure per login: no login scope is ever exceeded
        fail(env, f"sprayed{n}@pharmacie.example", sprayer)
    _, email = env.account()
    with pytest.raises(LoginThrottled):
        env.auth.login.password_login(login=email, password=PASSWORD,
                                      client=env.client(address=sprayer))
    # the account's owner, elsewhere, is not slowed down by it
    env.auth.login.password_login(login=email, password=PASSWORD,
                                  client=env.client(address=env.address()))


def test_a_wave_of_failures_shrinks_every_free_allowance(env: AuthEnv) -> None:
    throttle = env.auth.login_throttle
    assert not throttle.under_attack()
    for n in range(100):
        throttle.failed(Attempt(login_key=f"stuffed-{n}", address=env.address()))
    assert throttle.under_attack()
    _, email = env.account()
    address = env.address()
    fail(env, email, address)  # one free failure instead of five
    with pytest.raises(LoginThrottled):
        env.auth.login.password_login(login=email, password=PASSWORD,
                                      client=env.client(address=address))
    env.clock.advance(61)  # the wave is over: normal allowances come back
    assert not throttle.under_attack()


def test_delay_schedule_is_bounded_for_any_failure_count(env: AuthEnv) -> None:
    throttle = env.auth.login_throttle
    delays = [throttle.delay_for(n, 5) for n in range(200)]
    assert delays[:5] == [0] * 5
    assert max(delays) == 60
    assert delays == sorted(delays)


def test_custom_limits_apply(tmp_path_factory: pytest.TempPathFactory) -> None:
    custom = dataclasses.replace(TEST_AUTH, throttle_account_free_failures=2,
                                 throttle_max_delay_seconds=10)
    with backend_settings("sqlite", tmp_path_factory.mktemp("custom")) as settings, \
            auth_env(settings, custom) as env:
        _, email = env.account()
        waits = []
        for _ in range(13):
            try:
                fail(env, email, "203.0.113.7")
            except LoginThrottled as exc:
                waits.append(exc.retry_after)
                env.clock.advance(exc.retry_after)
        assert waits == [1, 2, 4, 8, 10, 10]


# -- second-factor brute force ----------------------------------------------------------


def test_totp_guessing_is_throttled_per_account(env: AuthEnv) -> None:
    _, email = env.account()
    _, secret, _ = env.with_totp(email)
    env.clock.advance(3600)
    client = env.client(address=env.address())
    pending = env.auth.login.password_login(login=email, password=PASSWORD, client=client)
    token = pending.session.token
    device = env.client(address=client.address, device=pending.session.device_token)
    right = totp_now(secret, env.clock)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for _ in range(5):
        with pytest.raises(InvalidSecondFactor):
            env.auth.second_factor.complete_totp(session_token=token, client=device, code=wrong)
    with pytest.raises(LoginThrottled):
        env.auth.second_factor.complete_totp(session_token=token, client=device, code=right)
    env.clock.advance(1)
    issued = env.auth.second_factor.complete_totp(session_token=token, client=device,
                                                  code=totp_now(secret, env.clock))
    assert issued.view.level is SessionLevel.FULL
    assert_no_secret_in(env.events.events, wrong, right, secret, email)


def test_logged_security_events_carry_no_personal_data_or_secret(
        env: AuthEnv, capsys: pytest.CaptureFixture[str]) -> None:
    """The whole login flow through the structured-log sink: event names and ids reach
    the log; the login, the password, codes and tokens never do."""
    logged = AuthServices.build(env.runtime, events=LogEventSink(),
                                settings=env.auth.settings)
    _, email = env.account()
    client = env.client(address=env.address())
    with pytest.raises(InvalidCredentials):
        logged.login.password_login(login=email, password=WRONG, client=client)
    with pytest.raises(InvalidCredentials):
        logged.login.password_login(login="ghost.user@pharmacie.example", password=WRONG,
                                    client=client)
    pending = logged.login.password_login(login=email, password=PASSWORD, client=client)
    device = env.client(address=client.address, device=pending.session.device_token)
    enrolment = logged.enrolment.begin_totp(session_token=pending.session.token, client=device)
    code = totp_now(enrolment.secret, env.clock)
    result = logged.enrolment.confirm_totp(session_token=pending.session.token, client=device,
                                           code=code)
    output = capsys.readouterr().out
    for event in ("login_failed", "password_accepted", "factor_enrolled", "login_succeeded"):
        assert event in output
    assert result.session is not None
    for secret in (email, email.split("@")[0], "ghost.user", PASSWORD, WRONG, code,
                   enrolment.secret, pending.session.token, result.session.token,
                   pending.session.device_token, *result.recovery_codes, "Testeuse"):
        assert secret not in output
