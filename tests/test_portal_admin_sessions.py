"""An organisation admin ends one colleague's session from the portal, over HTTP: only
in the admin's own organisation, never as a plain user, never without the form's CSRF
token or a recent second factor; the ended session really ends and the audit event
names the admin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portal_support import BACKENDS, Browser, PortalEnv, fresh, shared_portal
from rempart.auth.events import EventKind
from rempart.auth.roles import Role


@pytest.fixture(scope="module", params=BACKENDS)
def module_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalEnv]:
    yield from shared_portal(request, tmp_path_factory)


@pytest.fixture
def env(module_env: PortalEnv) -> PortalEnv:
    return fresh(module_env)


def _session_of(env: PortalEnv, account_id: int) -> int:
    sessions = env.auth.sessions.list_for_account(account_id)
    assert len(sessions) == 1
    return sessions[0].id


def _still_in(browser: Browser) -> bool:
    return browser.get("/portal/check").status_code == 200


def test_an_admin_sees_and_ends_a_colleagues_session(env: PortalEnv) -> None:
    colleague, colleague_id, _, _ = env.signed_in()
    admin, admin_id, _, _ = env.signed_in(role=Role.ORGANISATION_ADMIN)
    session_id = _session_of(env, colleague_id)
    page = admin.get("/portal/admin")
    assert f'action="/portal/admin/sessions/{session_id}/end"' in page.text
    # The network, not the colleague's exact address.
    assert "192.0.2.0/24" in page.text
    assert "192.0.2.10" not in page.text
    assert "Sessions ouvertes de l&#39;organisation" in page.text
    admin.get("/portal/lang/en?next=/portal/admin")
    assert "Open sessions of the organisation" in admin.get("/portal/admin").text
    done = admin.form(f"/portal/admin/sessions/{session_id}/end", page, {})
    assert done.headers["location"] == "/portal/admin?notice=session_ended_other"
    assert colleague.get("/portal/check").headers["location"].startswith("/portal/login")
    assert env.auth.sessions.list_for_account(colleague_id) == []
    assert _still_in(admin)
    ended = env.events.of_kind(EventKind.SESSION_ENDED)
    assert [(e.account_id, e.session_id, e.reason, e.details) for e in ended] == [
        (colleague_id, session_id, "ended_by_admin", {"by_account": str(admin_id)})]


def test_another_organisations_session_is_refused(env: PortalEnv) -> None:
    stranger, stranger_id, _, _ = env.signed_in(which=1)
    admin, _, _, _ = env.signed_in(role=Role.ORGANISATION_ADMIN)
    session_id = _session_of(env, stranger_id)
    page = admin.get("/portal/admin")
    assert f"/portal/admin/sessions/{session_id}/end" not in page.text
    refused = admin.form(f"/portal/admin/sessions/{session_id}/end", page, {})
    assert refused.status_code == 403
    assert _still_in(stranger)
    assert not env.events.of_kind(EventKind.SESSION_ENDED)


def test_a_plain_user_ends_no_colleagues_session(env: PortalEnv) -> None:
    colleague, colleague_id, _, _ = env.signed_in()
    user, _, _, _ = env.signed_in()
    session_id = _session_of(env, colleague_id)
    refused = user.form(f"/portal/admin/sessions/{session_id}/end",
                        user.get("/portal/check"), {})
    assert refused.status_code == 403
    assert _still_in(colleague)
    assert not env.events.of_kind(EventKind.SESSION_ENDED)


def test_without_the_csrf_token_nothing_ends(env: PortalEnv) -> None:
    colleague, colleague_id, _, _ = env.signed_in()
    admin, _, _, _ = env.signed_in(role=Role.ORGANISATION_ADMIN)
    session_id = _session_of(env, colleague_id)
    for data in ({}, {"csrf_token": "forged"}):
        refused = admin.post(f"/portal/admin/sessions/{session_id}/end", data=data)
        assert refused.status_code in (400, 403)
    assert _still_in(colleague)
    assert not env.events.of_kind(EventKind.SESSION_ENDED)


def test_an_old_second_factor_is_asked_again_first(env: PortalEnv) -> None:
    colleague, colleague_id, _, _ = env.signed_in()
    admin, _, _, secret = env.signed_in(role=Role.ORGANISATION_ADMIN)
    session_id = _session_of(env, colleague_id)
    env.clock.advance(env.auth.settings.recent_auth_seconds + 60)
    assert _still_in(colleague)  # the colleague's session is used, so not idle
    stale = admin.form(f"/portal/admin/sessions/{session_id}/end", admin.get("/portal/admin"),
                       {})
    assert stale.headers["location"] == "/portal/second-factor?next=/portal/admin"
    assert _still_in(colleague)
    admin.form("/portal/second-factor/totp", admin.get(stale.headers["location"]),
               {"code": env.totp(secret), "next": "/portal/admin"})
    page = admin.get("/portal/admin")
    done = admin.form(f"/portal/admin/sessions/{session_id}/end", page, {})
    assert done.headers["location"] == "/portal/admin?notice=session_ended_other"
    assert not _still_in(colleague)


def test_an_admin_ending_their_own_session_is_signed_out(env: PortalEnv) -> None:
    admin, admin_id, _, _ = env.signed_in(role=Role.ORGANISATION_ADMIN)
    session_id = _session_of(env, admin_id)
    done = admin.form(f"/portal/admin/sessions/{session_id}/end", admin.get("/portal/admin"),
                      {})
    assert done.headers["location"] == "/portal/login?notice=signed_out"
    assert "rempart-session" not in admin.http.cookies
    assert admin.get("/portal/admin").headers["location"].startswith("/portal/login")
