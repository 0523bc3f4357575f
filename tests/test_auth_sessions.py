"""Sessions: hashed ids, renewal, timeouts, client binding, step-up, listing and ending."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from auth_support import (
    BACKENDS,
    OTHER_BROWSER,
    PASSWORD,
    AuthEnv,
    fresh,
    shared_env,
    totp_now,
)
from rempart.auth.access import require_personal_data_access, require_recent_second_factor
from rempart.auth.client import ClientInfo, describe_agent, network_of
from rempart.auth.errors import (
    InvalidInput,
    NotPermitted,
    SecondFactorRequired,
    SessionInvalid,
    StepUpRequired,
)
from rempart.auth.events import EventKind
from rempart.auth.models import LoginSession
from rempart.auth.roles import Role
from rempart.auth.session_store import SessionLevel
from rempart.auth.sessions import IssuedSession


@pytest.fixture(scope="module", params=BACKENDS)
def module_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthEnv]:
    yield from shared_env(request, tmp_path_factory)


@pytest.fixture
def env(module_env: AuthEnv) -> AuthEnv:
    return fresh(module_env)


def logged_in(env: AuthEnv, address: str = "192.0.2.10") -> tuple[IssuedSession, ClientInfo,
                                                                   str]:
    _, email = env.account()
    session, secret, _ = env.with_totp(email, client=env.client(address=address))
    return session, env.client(address=address, device=session.device_token), secret


# -- pure helpers ----------------------------------------------------------------------


def test_networks_and_labels() -> None:
    assert network_of("192.0.2.77") == "192.0.2.0/24"
    assert network_of("2001:db8:1234:5678::1") == "2001:db8:1234::/48"
    assert network_of("not an address") == "unknown"
    assert describe_agent(OTHER_BROWSER) == "Firefox on Linux"
    assert describe_agent("") == "browser"


def test_oversized_client_fields_are_refused() -> None:
    with pytest.raises(InvalidInput):
        ClientInfo(address="192.0.2.1", user_agent="x" * 513)
    with pytest.raises(InvalidInput):
        ClientInfo(address="192.0.2.1", device_token="t" * 129)


# -- issuing and renewal ------------------------------------------------------------------


def test_only_a_hash_of_the_session_id_is_stored(env: AuthEnv) -> None:
    session, _, _ = logged_in(env)
    with env.runtime.engine.connect() as conn:
        row = conn.execute(select(LoginSession.__table__)
                           .where(LoginSession.id == session.view.id)).mappings().one()
    stored = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row.values())
    assert session.token.encode() not in stored
    assert session.device_token.encode() not in stored
    assert len(row["token_hash"]) == 32


def test_the_id_is_renewed_when_the_second_factor_passes(env: AuthEnv) -> None:
    _, email = env.account()
    client = env.client()
    pending = env.auth.login.password_login(login=email, password=PASSWORD, client=client)
    device = env.client(device=pending.session.device_token)
    enrolment = env.auth.enrolment.begin_totp(session_token=pending.session.token, client=device)
    result = env.auth.enrolment.confirm_totp(session_token=pending.session.token, client=device,
                                             code=totp_now(enrolment.secret, env.clock))
    assert result.session is not None
    assert result.session.token != pending.session.token
    assert result.session.view.id == pending.session.view.id
    assert result.session.csrf_token != pending.session.csrf_token
    with pytest.raises(SessionInvalid):
        env.auth.sessions.authenticate(token=pending.session.token, client=device)
    assert env.auth.sessions.authenticate(token=result.session.token,
                                          client=device).level is SessionLevel.FULL


def test_a_new_login_ends_the_previous_session_of_the_browser(env: AuthEnv) -> None:
    session, client, _ = logged_in(env)
    _, email = env.account()
    again = env.auth.login.password_login(login=email, password=PASSWORD, client=client,
                                          previous_token=session.token)
    assert again.session.device_token == session.device_token  # the browser keeps its token
    with pytest.raises(SessionInvalid):
        env.auth.sessions.authenticate(token=session.token, client=client)


# -- the second-factor rule --------------------------------------------------------------------


def test_a_password_session_reaches_no_personal_data(env: AuthEnv) -> None:
    _, email = env.account()
    pending = env.auth.login.password_login(login=email, password=PASSWORD, client=env.client())
    view = env.auth.sessions.authenticate(
        token=pending.session.token, client=env.client(device=pending.session.device_token))
    with pytest.raises(SecondFactorRequired):
        require_personal_data_access(view)


def test_a_password_session_expires_quickly(env: AuthEnv) -> None:
    _, email = env.account()
    pending = env.auth.login.password_login(login=email, password=PASSWORD, client=env.client())
    client = env.client(device=pending.session.device_token)
    env.clock.advance(5 * 60)
    with pytest.raises(SessionInvalid) as caught:
        env.auth.sessions.authenticate(token=pending.session.token, client=client)
    assert caught.value.reason == "expired"


# -- timeouts -------------------------------------------------------------------------------


def test_idle_timeout_is_thirty_minutes(env: AuthEnv) -> None:
    session, client, _ = logged_in(env)
    env.clock.advance(29 * 60)
    env.auth.sessions.authenticate(token=session.token, client=client)  # activity
    env.clock.advance(29 * 60)
    env.auth.sessions.authenticate(token=session.token, client=client)
    env.clock.advance(30 * 60)
    with pytest.raises(SessionInvalid) as caught:
        env.auth.sessions.authenticate(token=session.token, client=client)
    assert caught.value.reason == "expired"
    assert env.events.of_kind(EventKind.SESSION_ENDED)[-1].reason == "idle_timeout"


def test_absolute_timeout_is_twelve_hours_even_when_active(env: AuthEnv) -> None:
    session, client, _ = logged_in(env)
    for _ in range(12 * 4 - 1):
        env.clock.advance(15 * 60)
        env.auth.sessions.authenticate(token=session.token, client=client)
    env.clock.advance(15 * 60)
    with pytest.raises(SessionInvalid):
        env.auth.sessions.authenticate(token=session.token, client=client)
    assert env.events.of_kind(EventKind.SESSION_ENDED)[-1].reason == "absolute_timeout"


# -- binding to the client ------------------------------------------------------------------


def test_a_cookie_replayed_from_another_browser_is_refused_and_ended(env: AuthEnv) -> None:
    session, client, _ = logged_in(env)
    thief = env.client(address="203.0.113.66", agent=client.user_agent, device=None)
    with pytest.raises(SessionInvalid) as caught:
        env.auth.sessions.authenticate(token=session.token, client=thief)
    assert caught.value.reason == "presented by another client"
    with pytest.raises(SessionInvalid):  # and the owner's copy is dead too: it leaked
        env.auth.sessions.authenticate(token=session.token, client=client)
    refused = env.events.of_kind(EventKind.SESSION_REFUSED)
    assert refused[0].address == "203.0.113.66"
    assert session.token not in repr(env.events.events)


def test_a_cookie_with_a_forged_device_token_is_refused(env: AuthEnv) -> None:
    session, _, _ = logged_in(env)
    forged = env.client(device=session.device_token + "x")
    with pytest.raises(SessionInvalid):
        env.auth.sessions.authenticate(token=session.token, client=forged)


def test_a_changed_browser_must_step_up(env: AuthEnv) -> None:
    session, client, secret = logged_in(env)
    moved = env.client(address=client.address, agent=OTHER_BROWSER, device=session.device_token)
    view = env.auth.sessions.authenticate(token=session.token, client=moved)
    assert view.level is SessionLevel.STEP_UP
    with pytest.raises(StepUpRequired):
        require_personal_data_access(view)
    assert env.events.of_kind(EventKind.STEP_UP_REQUIRED)[0].reason == "agent_changed"

    env.clock.advance(30)
    renewed = env.auth.second_factor.complete_totp(session_token=session.token, client=moved,
                                                   code=totp_now(secret, env.clock))
    assert renewed.token != session.token
    view = env.auth.sessions.authenticate(token=renewed.token, client=moved)
    require_personal_data_access(view)


def test_a_changed_network_must_step_up(env: AuthEnv) -> None:
    session, client, _ = logged_in(env)
    same_network = env.client(address="192.0.2.200", device=session.device_token)
    assert env.auth.sessions.authenticate(token=session.token,
                                          client=same_network).level is SessionLevel.FULL
    elsewhere = env.client(address="203.0.113.5", device=session.device_token)
    view = env.auth.sessions.authenticate(token=session.token, client=elsewhere)
    assert view.level is SessionLevel.STEP_UP
    # going back does not undo it: the second factor must be shown again
    assert env.auth.sessions.authenticate(token=session.token,
                                          client=client).level is SessionLevel.STEP_UP


def test_sensitive_actions_need_a_recent_second_factor(env: AuthEnv) -> None:
    session, client, _ = logged_in(env)
    view = env.auth.sessions.authenticate(token=session.token, client=client)
    require_recent_second_factor(view, now=env.clock.now(), within_seconds=900)
    env.clock.advance(901)
    view = env.auth.sessions.authenticate(token=session.token, client=client)
    with pytest.raises(StepUpRequired):
        require_recent_second_factor(view, now=env.clock.now(), within_seconds=900)
    with pytest.raises(StepUpRequired):
        env.auth.enrolment.begin_passkey(session_token=session.token, client=client)


# -- CSRF ---------------------------------------------------------------------------------------


def test_csrf_token_belongs_to_its_session(env: AuthEnv) -> None:
    session, _, _ = logged_in(env)
    other, _, _ = logged_in(env)
    env.auth.sessions.check_csrf(token=session.token, presented=session.csrf_token)
    for presented in (None, "", other.csrf_token, session.csrf_token[:-1], "é" * 10):
        with pytest.raises(InvalidInput):
            env.auth.sessions.check_csrf(token=session.token, presented=presented)


# -- listing and ending ---------------------------------------------------------------------------


def test_a_user_sees_and_ends_their_own_sessions(env: AuthEnv) -> None:
    _, email = env.account()
    desk, _, _ = env.with_totp(email, client=env.client(address="192.0.2.10"))
    desk_client = env.client(address="192.0.2.10", device=desk.device_token)
    env.clock.advance(60)
    pending = env.auth.login.password_login(
        login=email, password=PASSWORD, client=env.client(address="192.0.2.11",
                                                          agent=OTHER_BROWSER))
    sessions = env.auth.sessions.list_for_account(desk.view.account.id)
    assert {s.id for s in sessions} == {desk.view.id, pending.session.view.id}
    assert {s.label for s in sessions} == {"Chrome on Windows", "Firefox on Linux"}

    me = env.auth.sessions.authenticate(token=desk.token, client=desk_client)
    env.auth.sessions.end_own(session=me, session_id=pending.session.view.id,
                              client=desk_client)
    assert [s.id for s in env.auth.sessions.list_for_account(me.account.id)] == [me.id]


def test_a_user_cannot_end_someone_elses_session(env: AuthEnv) -> None:
    mine, my_client, _ = logged_in(env)
    theirs, their_client, _ = logged_in(env)
    me = env.auth.sessions.authenticate(token=mine.token, client=my_client)
    with pytest.raises(NotPermitted):
        env.auth.sessions.end_own(session=me, session_id=theirs.view.id, client=my_client)
    env.auth.sessions.authenticate(token=theirs.token, client=their_client)


def test_an_admin_ends_sessions_in_their_scope_only(env: AuthEnv) -> None:
    session, client, _ = logged_in(env)
    other_admin_id, _ = env.account(role=Role.ORGANISATION_ADMIN, org=env.other_org_id)
    with pytest.raises(NotPermitted):
        env.auth.sessions.end_as_admin(actor=env.auth.accounts.get(other_admin_id).actor,
                                       session_id=session.view.id, client=client)
    env.auth.sessions.authenticate(token=session.token, client=client)
    analyst_id, _ = env.account(role=Role.OPERATOR_SECURITY_ANALYST)
    env.auth.sessions.end_as_admin(actor=env.auth.accounts.get(analyst_id).actor,
                                   session_id=session.view.id, client=client)
    with pytest.raises(SessionInvalid) as caught:
        env.auth.sessions.authenticate(token=session.token, client=client)
    assert caught.value.reason == "ended"


def test_logout_ends_the_session(env: AuthEnv) -> None:
    session, client, _ = logged_in(env)
    env.auth.sessions.logout(token=session.token, client=client)
    with pytest.raises(SessionInvalid):
        env.auth.sessions.authenticate(token=session.token, client=client)


@pytest.mark.parametrize("token", ["", "x" * 200, "not-a-session-token"])
def test_unknown_or_malformed_ids_are_refused(env: AuthEnv, token: str) -> None:
    with pytest.raises(SessionInvalid) as caught:
        env.auth.sessions.authenticate(token=token, client=env.client(device="d"))
    assert caught.value.reason == "unknown"
