"""A passkey holder's account over HTTP: a login without the passkey (a phished password
and TOTP code) may not change the account's factors, and is told to the owner; a lost
passkey is removed by the organisation's admin or an operator, after which the owner
signs in with TOTP or a recovery code and creates a new one (docs/auth.md "A lost
passkey")."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from auth_support import SoftAuthenticator
from console_support import operator_with_passkey
from portal_support import BACKENDS, ORIGIN, Browser, PortalEnv, fresh, shared_portal
from rempart.auth.events import EventKind
from rempart.auth.mail import render
from rempart.auth.outbox import NotificationKind
from rempart.auth.roles import Role

# The refusal's advice, as the French page (the default language) words it.
ASK_ADMIN = "administrateur de votre organisation de la retirer"


@pytest.fixture(scope="module", params=BACKENDS)
def module_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalEnv]:
    yield from shared_portal(request, tmp_path_factory)


@pytest.fixture
def env(module_env: PortalEnv) -> PortalEnv:
    return fresh(module_env)


def _holder(env: PortalEnv) -> tuple[Browser, int, str, str, SoftAuthenticator]:
    """A provider with TOTP (first login) who then added a passkey."""
    browser, account_id, email, secret = env.signed_in()
    return browser, account_id, email, secret, env.add_passkey(browser)


def _totp_login(env: PortalEnv, email: str, secret: str, *,
                browser: Browser | None = None) -> Browser:
    """A login with the password and a TOTP code (a thief's, relayed by a proxy, or the
    owner's); by default from a browser the account has never used."""
    env.clock.advance(30)  # a code is good once per time step
    browser = browser or env.browser(address="198.51.100.7")
    page = browser.get(env.password_login(browser, email).headers["location"])
    done = browser.form("/portal/second-factor/totp", page, {"code": env.totp(secret)})
    assert done.headers["location"] == "/portal/check"
    return browser


def _passkey_login(env: PortalEnv, authenticator: SoftAuthenticator) -> Browser:
    """A login with the passkey alone, from a new browser."""
    browser = env.browser()
    page = browser.get("/portal/login")
    begin = browser.json("/portal/webauthn/login/begin", page, {}).json()
    assert browser.json("/portal/webauthn/login/finish", page, {
        "ceremony_id": begin["ceremony_id"],
        "credential": authenticator.get(json.dumps(begin["options"]))}).status_code == 200
    return browser


def _refusals(env: PortalEnv) -> list[tuple[str, str]]:
    return [(e.details["change"], e.details["method"])
            for e in env.events.of_kind(EventKind.REQUEST_REFUSED)
            if e.reason == "factor_change_passkey_required"]


def _told(env: PortalEnv, account_id: int, kind: NotificationKind) -> list[dict[str, str]]:
    return [m.payload for m in env.auth.outbox.for_account(account_id) if m.kind is kind]


# -- a login without the passkey changes no factor ------------------------------------------


def test_a_totp_login_may_not_register_its_own_passkey(env: PortalEnv) -> None:
    _, account_id, email, secret, _ = _holder(env)
    thief = _totp_login(env, email, secret)
    env.events.events.clear()
    page = thief.get("/portal/enrol")
    assert 'id="page-error"' in page.text
    assert ASK_ADMIN in page.text
    begin = thief.json("/portal/webauthn/register/begin", page, {})
    assert begin.status_code == 401
    assert begin.json()["error"]["code"] == "passkey_required"
    assert "ask your organisation's administrator" in begin.json()["error"]["message"]
    finish = thief.json("/portal/webauthn/register/finish", page, {
        "ceremony_id": "c" * 40, "credential": {"id": "x", "rawId": "x"}})
    assert finish.status_code == 401
    assert len(env.auth.passkeys.for_account(account_id)) == 1
    assert _refusals(env) == [("passkey", "totp"), ("passkey", "totp")]
    assert env.events.of_kind(EventKind.FACTOR_ENROLLED) == []


def test_a_totp_login_may_not_enrol_totp_again(env: PortalEnv) -> None:
    _, _, email, secret, _ = _holder(env)
    thief = _totp_login(env, email, secret)
    env.events.events.clear()
    page = thief.get("/portal/enrol")
    shown = thief.form("/portal/enrol/totp", page, {})
    assert shown.status_code == 403
    assert "data-secret" not in shown.text
    assert ASK_ADMIN in shown.text
    confirmed = thief.form("/portal/enrol/totp/confirm", page, {"code": "123456"})
    assert confirmed.status_code == 403
    assert _refusals(env) == [("totp", "totp"), ("totp", "totp")]
    # The owner's authenticator app still signs in: its secret was not replaced.
    _totp_login(env, email, secret, browser=env.browser())


def test_a_totp_login_may_not_make_new_recovery_codes(env: PortalEnv) -> None:
    _, account_id, email, secret, _ = _holder(env)
    thief = _totp_login(env, email, secret)
    left = env.auth.recovery.remaining(account_id)
    env.events.events.clear()
    answer = thief.form("/portal/security/recovery-codes", thief.get("/portal/security"), {})
    assert answer.status_code == 403
    assert 'id="recovery-codes"' not in answer.text
    assert ASK_ADMIN in answer.text
    assert env.auth.recovery.remaining(account_id) == left
    assert _refusals(env) == [("recovery_codes", "totp")]


def test_a_passkey_session_changes_factors_and_first_logins_enrol_as_before(
        env: PortalEnv) -> None:
    # TOTP at first login, then a passkey from that session: the account held none.
    _, account_id, _, _, authenticator = _holder(env)
    # Signed in with the passkey: a second passkey, TOTP again, new recovery codes.
    browser = _passkey_login(env, authenticator)
    assert 'id="page-error"' not in browser.get("/portal/enrol").text
    env.add_passkey(browser)
    assert len(env.auth.passkeys.for_account(account_id)) == 2
    assert "data-secret" in browser.form("/portal/enrol/totp", browser.get("/portal/enrol"),
                                         {}).text
    codes = browser.form("/portal/security/recovery-codes", browser.get("/portal/security"), {})
    assert 'id="recovery-codes"' in codes.text
    # A passkey at first login, then TOTP from that session.
    _, email = env.account()
    first = env.browser()
    assert env.password_login(first, email).headers["location"] == "/portal/enrol"
    env.add_passkey(first)
    assert "data-secret" in first.form("/portal/enrol/totp", first.get("/portal/enrol"),
                                       {}).text
    assert _refusals(env) == []


# -- told to the owner ----------------------------------------------------------------------


def test_a_login_without_the_passkey_is_told_to_the_owner_each_time(env: PortalEnv) -> None:
    owner, account_id, email, secret, authenticator = _holder(env)
    # From the owner's own (known) browser, signed out and in again.
    owner.form("/portal/logout", owner.get("/portal/check"), {})
    _totp_login(env, email, secret, browser=owner)
    [known] = _told(env, account_id, NotificationKind.LOGIN_WITHOUT_PASSKEY)
    assert known["method"] == "totp"
    assert known["device"]
    assert known["at"]
    # From a new browser: one message (this one, not also the new-device alert).
    _totp_login(env, email, secret)
    assert len(_told(env, account_id, NotificationKind.LOGIN_WITHOUT_PASSKEY)) == 2
    assert _told(env, account_id, NotificationKind.NEW_DEVICE_LOGIN) == []
    # A login with the passkey is not such a login.
    browser = env.browser()
    page = browser.get(env.password_login(browser, email).headers["location"])
    assert env.passkey_second_factor(browser, authenticator, page).status_code == 200
    messages = [m for m in env.auth.outbox.for_account(account_id)
                if m.kind is NotificationKind.LOGIN_WITHOUT_PASSKEY]
    assert len(messages) == 2
    body = render(messages[-1], mail_from="rempart@example.org").get_content()
    assert "without your passkey" in body
    assert "198.51.100.7" in body
    assert secret not in repr(messages)


# -- the way back: an admin removes the lost passkey ----------------------------------------


def _removal_url(account_id: int) -> str:
    return f"/portal/admin/accounts/{account_id}/passkeys/remove"


def test_an_admin_removes_a_lost_passkey_and_the_owner_creates_a_new_one(
        env: PortalEnv) -> None:
    owner, account_id, email, secret, _ = _holder(env)
    admin, admin_id, _, _ = env.signed_in(role=Role.ORGANISATION_ADMIN)
    page = admin.get("/portal/admin")
    assert 'id="member-passkeys"' in page.text
    assert _removal_url(account_id) in page.text
    env.events.events.clear()
    done = admin.form(_removal_url(account_id), page, {})
    assert done.headers["location"] == "/portal/admin?notice=passkeys_removed"
    assert env.auth.passkeys.for_account(account_id) == []
    assert owner.get("/portal/check").headers["location"].startswith("/portal/login")
    [removed] = env.events.of_kind(EventKind.FACTOR_REMOVED)
    assert (removed.account_id, removed.details["by"], removed.details["count"]) == (
        account_id, str(admin_id), "1")
    assert removed.details["sessions_ended"] == "1"
    [told] = [m for m in env.auth.outbox.for_account(account_id)
              if m.kind is NotificationKind.FACTOR_REMOVED]
    assert told.recipient == email
    assert "removed your account's passkeys" in render(told, mail_from="r@x.org").get_content()
    # The owner signs in with TOTP (no passkey skipped: it holds none) and creates one.
    browser = _totp_login(env, email, secret)
    assert _told(env, account_id, NotificationKind.LOGIN_WITHOUT_PASSKEY) == []
    assert 'id="page-error"' not in browser.get("/portal/enrol").text
    env.add_passkey(browser)
    assert len(env.auth.passkeys.for_account(account_id)) == 1


def test_who_may_not_remove_a_passkey(env: PortalEnv) -> None:
    _, member_id, _, _, _ = _holder(env)
    other_browser, other_id, _, _ = env.signed_in(which=1)  # another organisation's
    env.add_passkey(other_browser)
    admin, admin_id, _, _ = env.signed_in(role=Role.ORGANISATION_ADMIN)
    env.add_passkey(admin)
    colleague, _, _, _ = env.signed_in()
    page = admin.get("/portal/admin")
    assert _removal_url(admin_id) not in page.text
    assert _removal_url(other_id) not in page.text
    env.events.events.clear()
    assert admin.form(_removal_url(other_id), page, {}).status_code == 403
    assert admin.form(_removal_url(admin_id), page, {}).status_code == 403
    assert admin.form(_removal_url(2**40), page, {}).status_code == 403
    assert admin.post(_removal_url(member_id), data={"csrf_token": "forged"}).status_code == 403
    assert colleague.form(_removal_url(member_id), colleague.get("/portal/security"),
                          {}).status_code == 403
    # An admin whose own second factor is not recent is sent to confirm it first.
    env.clock.advance(env.auth.settings.recent_auth_seconds + 60)
    stale = admin.form(_removal_url(member_id), admin.get("/portal/admin"), {})
    assert stale.headers["location"].startswith("/portal/second-factor")
    for account_id in (member_id, other_id, admin_id):
        assert len(env.auth.passkeys.for_account(account_id)) == 1
    assert env.events.of_kind(EventKind.FACTOR_REMOVED) == []


def test_an_admin_holding_a_passkey_removes_one_only_after_passing_it(
        env: PortalEnv) -> None:
    # An admin's phished password and TOTP code must not strip a colleague's passkey.
    _, member_id, _, _, _ = _holder(env)
    admin, admin_id, _, _ = env.signed_in(role=Role.ORGANISATION_ADMIN)
    authenticator = env.add_passkey(admin)  # from its TOTP session: it held none
    env.events.events.clear()
    refused = admin.form(_removal_url(member_id), admin.get("/portal/admin"), {})
    # Sent to its second factor, which for a passkey holder is the passkey alone.
    assert refused.headers["location"] == "/portal/second-factor?next=/portal/admin"
    assert len(env.auth.passkeys.for_account(member_id)) == 1
    assert _refusals(env) == [("remove_passkeys", "totp")]
    assert env.events.of_kind(EventKind.FACTOR_REMOVED) == []
    # Signed in with its passkey, the same admin removes it.
    browser = _passkey_login(env, authenticator)
    done = browser.form(_removal_url(member_id), browser.get("/portal/admin"), {})
    assert done.headers["location"] == "/portal/admin?notice=passkeys_removed"
    assert env.auth.passkeys.for_account(member_id) == []
    [removed] = env.events.of_kind(EventKind.FACTOR_REMOVED)
    assert removed.details["by"] == str(admin_id)


def _console_entries(env: PortalEnv) -> list[tuple[str, int, dict[str, object]]]:
    with env.runtime.engine.connect() as conn:
        rows = conn.execute(text("SELECT event, account_id, detail FROM audit_entries "
                                 "WHERE event = 'console.passkeys_removed' "
                                 "ORDER BY position")).all()
    return [(r[0], r[1], json.loads(r[2])) for r in rows]


def test_an_operator_removes_a_lost_passkey_from_the_console(env: PortalEnv) -> None:
    owner, account_id, email, _, _ = _holder(env)
    admin, _, _, _ = env.signed_in(role=Role.ORGANISATION_ADMIN)
    operator, operator_id = operator_with_passkey(env)
    url = f"/portal/console/accounts/{account_id}/passkeys/remove"
    page = operator.get(f"/portal/console/accounts/{account_id}")
    assert 'id="remove-passkeys"' in page.text
    before = _console_entries(env)
    assert operator.post(url, data={"csrf_token": "forged"}).status_code == 403
    assert admin.form(url, admin.get("/portal/admin"), {}).status_code == 403
    assert len(env.auth.passkeys.for_account(account_id)) == 1
    assert _console_entries(env) == before
    done = operator.form(url, page, {})
    assert done.headers["location"] == (
        f"/portal/console/accounts/{account_id}?notice=console_passkeys_removed")
    assert env.auth.passkeys.for_account(account_id) == []
    assert owner.get("/portal/check").headers["location"].startswith("/portal/login")
    assert _console_entries(env)[len(before):] == [
        ("console.passkeys_removed", operator_id,
         {"role": "operator_security_analyst", "target_account": account_id, "passkeys": 1})]
    assert len(_told(env, account_id, NotificationKind.FACTOR_REMOVED)) == 1
    assert 'id="remove-passkeys"' not in operator.get(
        f"/portal/console/accounts/{account_id}").text
    assert email not in repr(env.events.events)


def test_an_account_left_without_a_factor_enrols_again_at_its_next_login(
        env: PortalEnv) -> None:
    """An operator's only factor is its passkey: once removed, its next login enrols a new
    one as at its first login (and nothing else is open to it until then)."""
    _, analyst_id = operator_with_passkey(env)
    admin, _ = operator_with_passkey(env, Role.OPERATOR_ADMIN)
    url = f"/portal/console/accounts/{analyst_id}/passkeys/remove"
    admin.form(url, admin.get(f"/portal/console/accounts/{analyst_id}"), {})
    assert env.auth.passkeys.for_account(analyst_id) == []
    browser = env.browser()
    email = env.auth.accounts.contact(analyst_id).email
    assert env.password_login(browser, email).headers["location"] == "/portal/enrol"
    assert browser.get("/portal/console").status_code in (303, 401, 403)
    page = browser.get("/portal/enrol")
    begin = browser.json("/portal/webauthn/register/begin", page, {}).json()
    done = browser.json("/portal/webauthn/register/finish", page, {
        "ceremony_id": begin["ceremony_id"], "label": "Poste SOC",
        "credential": SoftAuthenticator(origin=ORIGIN).create(json.dumps(begin["options"]))})
    assert done.json()["next"] == "/portal/check"
    assert browser.get("/portal/console").status_code == 200
    assert len(env.auth.passkeys.for_account(analyst_id)) == 1
