"""Support for the security console tests: an operator signed in with a passkey (the
software authenticator, through the portal's JSON ceremony endpoints) and a stored
guard alert on a provider's account."""

from __future__ import annotations

import json

from auth_support import SoftAuthenticator
from portal_support import ORIGIN, Browser, PortalEnv
from rempart.alerts.store import StoredAlertSink
from rempart.auth.roles import Role
from rempart.guard.alerts import Alert
from rempart.guard.context import Channel
from rempart.guard.decision import Action

REASONS = ("312 checks in 40 min, 30x this pharmacy's usual",
           "94 % of patients live over 200 km away")


def operator_with_passkey(env: PortalEnv, role: Role = Role.OPERATOR_SECURITY_ANALYST,
                          ) -> tuple[Browser, int]:
    """An operator who enrolled a passkey at first login: a FULL session by passkey."""
    account_id, email = env.account(role=role)
    browser = env.browser()
    env.password_login(browser, email)
    page = browser.get("/portal/enrol")
    begin = browser.json("/portal/webauthn/register/begin", page, {})
    credential = SoftAuthenticator(origin=ORIGIN).create(json.dumps(begin.json()["options"]))
    done = browser.json("/portal/webauthn/register/finish", page, {
        "ceremony_id": begin.json()["ceremony_id"], "credential": credential,
        "label": "Poste SOC"})
    if done.status_code != 200:
        raise AssertionError(f"passkey enrolment failed: {done.text}")
    return browser, account_id


def raise_alert(env: PortalEnv, account_id: int, *, session: str = "portal:1") -> None:
    sink = StoredAlertSink(engine=env.runtime.engine, audit=env.app.state.audit_log)
    sink.emit(Alert(account_id=account_id, organisation_id=env.population.organisation_ids[0],
                    session_id=session, action=Action.SUSPEND_ACCOUNT, reasons=REASONS,
                    score=41.0, at=env.clock.now(), channel=Channel.PORTAL))
