"""The wall clock jumps (ManualClock.jump: the wall clock moves, the monotonic one does
not) under sessions, one-time codes, invitations and access tokens (SQLite; PostgreSQL
where marked), and what each refusal logs (rempart.auth.clock_skew, docs/auth.md
"Clock jumps"). Throttles: tests/test_auth_throttle_clock_jump.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

from auth_support import BACKENDS, TEST_AUTH, AuthEnv, fresh, shared_env, totp_now
from rempart.auth.access_tokens import AccessTokens
from rempart.auth.challenges import ChallengeStore
from rempart.auth.client import ClientInfo
from rempart.auth.errors import (
    InvalidAccessToken,
    InvalidSecondFactor,
    InvitationInvalid,
    SessionInvalid,
)
from rempart.auth.events import EventKind
from rempart.auth.models import WebauthnChallenge
from rempart.auth.roles import Actor, Role
from rempart.auth.sessions import IssuedSession
from rempart.auth.signing_keys import SigningKeys
from rempart.auth.tokens import ContactFields, token_hash

HOUR = 3600.0
MINUTE = 60.0


@pytest.fixture(scope="module", params=BACKENDS)
def module_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthEnv]:
    yield from shared_env(request, tmp_path_factory)


@pytest.fixture
def env(module_env: AuthEnv) -> AuthEnv:
    # A day later: every session, code and window of an earlier test (whose clock may
    # have jumped back by hours) is over.
    module_env.clock.advance(24 * HOUR)
    return fresh(module_env)


def logged_in(env: AuthEnv) -> tuple[IssuedSession, ClientInfo, str]:
    _, email = env.account()
    address = env.address()
    session, secret, _ = env.with_totp(email, client=env.client(address=address))
    return session, env.client(address=address, device=session.device_token), secret


def anomalies(logs: list[dict[str, Any]]) -> list[str]:
    return [e["what"] for e in logs if e["event"] == "auth.clock_anomaly"]


def admin(env: AuthEnv) -> Actor:
    account_id, _ = env.account(role=Role.ORGANISATION_ADMIN)
    return env.auth.accounts.get(account_id).actor


# -- sessions ---------------------------------------------------------------------------


def test_a_clock_set_back_does_not_lengthen_a_sessions_absolute_life(env: AuthEnv) -> None:
    """Used every 20 minutes for 11 h 40, then the clock goes back 3 hours: before, the
    session answered until 15 h of real life (its deadline read on the wall clock)."""
    session, client, _ = logged_in(env)
    real = 0.0
    while real < 11 * HOUR + 40 * MINUTE:
        env.clock.advance(20 * MINUTE)
        real += 20 * MINUTE
        env.auth.sessions.authenticate(token=session.token, client=client)
    env.clock.jump(-3 * HOUR)
    last_answer = real
    with capture_logs() as logs:
        while real < 16 * HOUR:
            env.clock.advance(20 * MINUTE)
            real += 20 * MINUTE
            try:
                env.auth.sessions.authenticate(token=session.token, client=client)
            except SessionInvalid:
                break
            last_answer = real
    assert last_answer <= 12 * HOUR
    ended = env.events.of_kind(EventKind.SESSION_ENDED)
    assert [e.reason for e in ended] == ["clock_skew"]
    assert anomalies(logs) == ["session"]
    assert all("account" not in str(e) and "@" not in str(e) for e in logs)


def test_a_clock_set_back_does_not_lengthen_the_idle_timeout(env: AuthEnv) -> None:
    """Last used, then the clock back an hour and 50 minutes of silence: before, the
    session still answered (its last request read as 10 minutes in the future)."""
    session, client, _ = logged_in(env)
    env.auth.sessions.authenticate(token=session.token, client=client)
    env.clock.jump(-HOUR)
    env.clock.advance(50 * MINUTE)
    with pytest.raises(SessionInvalid):
        env.auth.sessions.authenticate(token=session.token, client=client)
    assert env.auth.sessions.list_for_account(session.view.account.id) == []


def test_small_steps_cost_nothing_and_forward_jumps_expire(env: AuthEnv) -> None:
    """NTP's ordinary corrections (under the 120 s tolerance) either way keep sessions;
    a forward jump past the idle timeout ends them (their users log in again)."""
    session, client, _ = logged_in(env)
    env.clock.jump(-100)
    env.auth.sessions.authenticate(token=session.token, client=client)
    env.clock.jump(100)
    env.clock.advance(61)
    env.auth.sessions.authenticate(token=session.token, client=client)
    env.clock.jump(HOUR)
    with pytest.raises(SessionInvalid):
        env.auth.sessions.authenticate(token=session.token, client=client)
    assert env.events.of_kind(EventKind.SESSION_ENDED)[-1].reason == "idle_timeout"


# -- TOTP -------------------------------------------------------------------------------


def test_a_clock_set_back_does_not_accept_a_used_totp_code_again(env: AuthEnv) -> None:
    """A code used an hour ago (a phishing proxy kept it), the clock then set back an
    hour: the code is current again on the server, and still refused (the last step
    accepted is stored): this held before too, now the refusal is logged."""
    session, _client, secret = logged_in(env)
    account = session.view.account.id
    env.clock.advance(HOUR)
    used_earlier = totp_now(secret, env.clock, offset_steps=-120)
    env.auth.totp.verify(account_id=account, code=totp_now(secret, env.clock))
    env.clock.jump(-HOUR)
    assert totp_now(secret, env.clock) == used_earlier
    with capture_logs() as logs, pytest.raises(InvalidSecondFactor):
        env.auth.totp.verify(account_id=account, code=used_earlier)
    assert anomalies(logs) == ["totp_step"]


# -- API step-up codes ------------------------------------------------------------------


def test_a_clock_set_back_does_not_lengthen_a_step_up_code(env: AuthEnv) -> None:
    """A code of 10 minutes, the clock back an hour: before, it stayed good for 70."""
    actor = admin(env)
    client = env.auth.api_clients.register(actor=actor, organisation_id=env.org_id,
                                           name="LGO").info.client_id
    first = env.auth.api_step_ups.challenge(client_id=client, key_thumbprint="jkt-1")
    assert first is not None
    env.clock.jump(-HOUR)
    env.clock.advance(11 * MINUTE)
    with capture_logs() as logs:
        assert env.auth.api_step_ups.pending(code=first.user_code,
                                             organisation_id=env.org_id) is None
        assert env.auth.api_step_ups.redeem(code=first.user_code, organisation_id=env.org_id,
                                            account_id=actor.account_id) is None
        again = env.auth.api_step_ups.challenge(client_id=client, key_thumbprint="jkt-1")
    assert again is not None
    assert again.user_code != first.user_code
    assert again.expires_in == 600
    assert anomalies(logs) == ["api_step_up_code"] * 3
    # The new code works, once.
    assert env.auth.api_step_ups.redeem(code=again.user_code, organisation_id=env.org_id,
                                        account_id=actor.account_id) is not None


# -- invitations ------------------------------------------------------------------------


def test_a_clock_set_back_does_not_lengthen_an_invitation(env: AuthEnv) -> None:
    issued = env.auth.invitations.invite(
        actor=admin(env), contact=ContactFields(env.email("invited"), "New User"),
        role=Role.PROVIDER_USER, organisation_id=env.org_id)
    env.clock.jump(-4 * HOUR)
    with capture_logs() as logs, pytest.raises(InvitationInvalid):
        env.auth.invitations.accept(token=issued.token, password="correct horse battery 9")
    assert env.events.of_kind(EventKind.INVITATION_REFUSED)[-1].reason == "clock_skew"
    assert anomalies(logs) == ["invitation"]


# -- access tokens ----------------------------------------------------------------------


def test_a_clock_set_back_does_not_lengthen_an_access_token(env: AuthEnv) -> None:
    """A 5-minute token, the clock back an hour: before, it verified for 65 minutes."""
    tokens = AccessTokens(keys=SigningKeys(engine=env.runtime.engine, vault=env.runtime.vault,
                                           clock=env.clock), clock=env.clock, settings=TEST_AUTH)
    token = tokens.issue(client_id="c-1", organisation_id=env.org_id, jkt="jkt").access_token
    assert tokens.verify(token).client_id == "c-1"
    env.clock.jump(-HOUR)
    env.clock.advance(10 * MINUTE)
    with capture_logs() as logs, pytest.raises(InvalidAccessToken) as caught:
        tokens.verify(token)  # its signature is cached: the claims are checked each time
    assert caught.value.reason == "expired"
    assert anomalies(logs) == ["access_token"]
    # A small step back (workers' clocks that differ) keeps a fresh token good.
    fresh_token = tokens.issue(client_id="c-1", organisation_id=env.org_id,
                               jkt="jkt").access_token
    env.clock.jump(-100)
    assert tokens.verify(fresh_token).client_id == "c-1"


def test_a_clock_set_back_does_not_lengthen_a_webauthn_challenge(env: AuthEnv) -> None:
    """A 5-minute ceremony, the clock back 3 hours: before, its challenge could be
    answered for 3 h 05."""
    store = ChallengeStore(engine=env.runtime.engine, clock=env.clock, lifetime_seconds=300)
    ceremony_id, _ = store.create(purpose="login", account_id=None)
    env.clock.jump(-3 * HOUR)
    env.clock.advance(10 * MINUTE)
    with capture_logs() as logs:
        assert store.take(ceremony_id=ceremony_id, purpose="login") is None
    assert anomalies(logs) == ["webauthn_challenge"]
    # A small step back keeps a fresh ceremony good; the one above is gone (single use).
    fresh_id, challenge = store.create(purpose="login", account_id=None)
    env.clock.jump(-100)
    taken = store.take(ceremony_id=fresh_id, purpose="login")
    assert taken is not None
    assert taken.challenge == challenge


def test_challenges_made_before_a_jump_back_are_purged(env: AuthEnv) -> None:
    store = ChallengeStore(engine=env.runtime.engine, clock=env.clock, lifetime_seconds=300)
    old_id, _ = store.create(purpose="login", account_id=None)
    env.clock.jump(-3 * HOUR)
    store.create(purpose="login", account_id=None)  # purges what has expired
    with env.runtime.engine.connect() as conn:
        left = conn.scalar(select(func.count()).select_from(WebauthnChallenge).where(
            WebauthnChallenge.ceremony_hash == token_hash(old_id)))
    assert left == 0
