"""The security console over HTTP: who may open it, open alerts, an account's timeline
with the guard's reasons, suspending a session or an account (sessions ended, API
clients revoked), restoring it (the guard told, the alerts closed), each action audited
with who did it; CSRF on every form."""

from __future__ import annotations

import html
from collections.abc import Iterator

import orjson
import pytest
from sqlalchemy import text

from console_support import REASONS, operator_with_passkey, raise_alert
from portal_support import BACKENDS, PortalEnv, fresh, shared_portal
from rempart.alerts.store import AlertStore
from rempart.auth.roles import AccountStatus, Role
from rempart.guard import GuardSettings
from rempart.guard.alerts import MemoryAlertSink
from rempart.guard.config import build_guard
from rempart.guard.profile import AccountProfile


@pytest.fixture(scope="module", params=BACKENDS)
def module_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalEnv]:
    yield from shared_portal(request, tmp_path_factory)


@pytest.fixture
def env(module_env: PortalEnv) -> Iterator[PortalEnv]:
    yield fresh(module_env)
    module_env.app.state.console.guard = None


def console_events(env: PortalEnv) -> list[tuple[str, int, dict[str, object]]]:
    with env.runtime.engine.connect() as conn:
        rows = conn.execute(text("SELECT event, account_id, detail FROM audit_entries "
                                 "WHERE event LIKE 'console.%' ORDER BY position")).all()
    return [(r[0], r[1], orjson.loads(r[2])) for r in rows]


def test_only_operators_with_a_passkey_reach_the_console(env: PortalEnv) -> None:
    provider, _, _, _ = env.signed_in()
    assert provider.get("/portal/console").status_code == 403
    assert provider.get("/portal/console/breach").status_code == 403
    anonymous = env.browser()
    assert anonymous.get("/portal/console").headers["location"].startswith("/portal/login")
    operator, _ = operator_with_passkey(env)
    assert operator.get("/portal/check").headers["location"] == "/portal/console"
    page = operator.get("/portal/console")
    assert page.status_code == 200
    assert 'href="/portal/console"' in page.text  # in the navigation
    assert 'href="/portal/check"' not in page.text


def test_an_analyst_sees_the_alert_suspends_and_restores_the_account(env: PortalEnv) -> None:
    # A phished organisation admin: the attacker may have registered practice software.
    provider, provider_id, _, _ = env.signed_in(role=Role.ORGANISATION_ADMIN)
    admin_client = env.auth.api_clients.register(
        actor=env.auth.accounts.get(provider_id).actor,
        organisation_id=env.population.organisation_ids[0], name="Officine")
    raise_alert(env, provider_id)
    guard = build_guard(GuardSettings(), clock=env.clock, alerts=MemoryAlertSink())
    suspended = AccountProfile.new(env.clock.now().timestamp())
    suspended.suspended = True
    guard._state.save_account(str(provider_id), suspended)
    env.app.state.console.guard = guard

    operator, operator_id = operator_with_passkey(env)
    alerts = operator.get("/portal/console")
    assert f'href="/portal/console/accounts/{provider_id}"' in alerts.text
    for reason in REASONS:
        assert reason in html.unescape(alerts.text)

    account = operator.get(f"/portal/console/accounts/{provider_id}")
    assert account.status_code == 200
    assert 'id="timeline"' in account.text
    assert REASONS[1] in html.unescape(account.text)
    assert 'id="suspend-account"' in account.text

    done = operator.form(f"/portal/console/accounts/{provider_id}/suspend", account, {})
    assert done.status_code == 303
    assert env.auth.accounts.get(provider_id).status is AccountStatus.SUSPENDED
    assert provider.get("/portal/check").headers["location"].startswith("/portal/login")
    assert env.auth.api_clients.active(admin_client.info.client_id) is None

    account = operator.get(f"/portal/console/accounts/{provider_id}")
    assert 'id="restore-account"' in account.text
    operator.form(f"/portal/console/accounts/{provider_id}/restore", account, {})
    assert env.auth.accounts.get(provider_id).status is AccountStatus.ACTIVE
    profile = guard._state.account(str(provider_id))
    assert profile is not None
    assert not profile.suspended
    assert not [a for a in AlertStore(engine=env.runtime.engine).open()
                if a.account_id == str(provider_id)]
    assert 'id="no-alerts"' in operator.get("/portal/console").text

    events = [(e, who, d) for e, who, d in console_events(env)
              if d.get("target_account") == provider_id]
    assert [(e, who) for e, who, _ in events] == [
        ("console.account_suspended", operator_id), ("console.account_restored", operator_id)]
    assert events[0][2]["sessions_ended"] == 1
    assert events[0][2]["clients_revoked"] == 1
    assert events[1][2]["alerts_closed"] == 1
    assert events[1][2]["guard"] is True


def test_suspending_one_session_ends_only_that_one(env: PortalEnv) -> None:
    _first, provider_id, email, secret = env.signed_in()
    second = env.browser()
    env.password_login(second, email)
    page = second.get("/portal/second-factor")
    second.form("/portal/second-factor/totp", page, {"code": env.totp(secret)})
    sessions = env.auth.sessions.list_for_account(provider_id)
    assert len(sessions) == 2
    operator, operator_id = operator_with_passkey(env)
    account = operator.get(f"/portal/console/accounts/{provider_id}")
    target = sessions[0].id
    answer = operator.form(f"/portal/console/sessions/{target}/suspend", account, {})
    assert answer.headers["location"].startswith(f"/portal/console/accounts/{provider_id}")
    assert [s.id for s in env.auth.sessions.list_for_account(provider_id)] == [sessions[1].id]
    assert env.auth.accounts.get(provider_id).status is AccountStatus.ACTIVE
    assert ("console.session_suspended", operator_id) in [
        (e, who) for e, who, d in console_events(env) if d.get("session") == target]


def test_closing_an_alert_and_forms_without_csrf(env: PortalEnv) -> None:
    _, provider_id, _, _ = env.signed_in()
    raise_alert(env, provider_id)
    operator, operator_id = operator_with_passkey(env)
    page = operator.get("/portal/console")
    [alert] = [a for a in AlertStore(engine=env.runtime.engine).open()
               if a.account_id == str(provider_id)]
    before = console_events(env)
    for url in (f"/portal/console/alerts/{alert.id}/close",
                f"/portal/console/accounts/{provider_id}/suspend"):
        refused = operator.post(url, data={"csrf_token": "forged"})
        assert refused.status_code == 403
    assert console_events(env) == before
    assert env.auth.accounts.get(provider_id).status is AccountStatus.ACTIVE
    operator.form(f"/portal/console/alerts/{alert.id}/close", page, {})
    closed = AlertStore(engine=env.runtime.engine).get(alert.id)
    assert closed is not None
    assert closed.resolved_by == operator_id
    assert console_events(env)[-1][:2] == ("console.alert_closed", operator_id)


def test_an_analyst_cannot_suspend_an_operator_admin_or_themself(env: PortalEnv) -> None:
    admin_id, _ = env.account(role=Role.OPERATOR_ADMIN)
    operator, operator_id = operator_with_passkey(env)
    page = operator.get("/portal/console")
    assert operator.form(f"/portal/console/accounts/{admin_id}/suspend", page,
                         {}).status_code == 403
    assert operator.form(f"/portal/console/accounts/{operator_id}/suspend", page,
                         {}).status_code == 403
    assert env.auth.accounts.get(admin_id).status is AccountStatus.ACTIVE
    assert env.auth.accounts.get(operator_id).status is AccountStatus.ACTIVE
    assert operator.get("/portal/console/accounts/999999").status_code == 404
