"""The portal in real Chromium, continued: a thief who copies every cookie of a signed-in
browser into another browser (another user agent) meets the second-factor page, not the
check page; an invitation accepted; a practice software's step-up code confirmed; an
organisation admin ends a colleague's session. Screenshots in artifacts/screenshots/."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Browser

from auth_support import PASSWORD, DpopClient
from browser.browser_support import LivePortal, new_context, screenshot
from browser.test_portal_browser import enrol_totp_in_page, signed_in_at_check
from portal_support import Browser as HttpBrowser
from rempart.auth.events import EventKind
from rempart.auth.roles import Role
from rempart.auth.tokens import ContactFields
from test_api_step_up import ELSEWHERE, HOME, Key, _code

pytestmark = pytest.mark.browser

THIEF_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 "
               "Firefox/128.0")


def _software_code(portal: LivePortal, client_id: str, secret: str) -> str:
    """The step-up code of a key that checked from its practice, then from elsewhere.
    The software's HTTP client runs its own event loop: in a thread, away from
    Playwright's."""
    def run() -> str:
        key = Key(portal.env, client_id, secret, dpop=DpopClient(portal.env.clock))
        home = HttpBrowser(portal.env.app, address=HOME)
        away = HttpBrowser(portal.env.app, address=ELSEWHERE)
        try:
            key.issue(home)
            assert key.check(home).status_code == 201
            portal.env.clock.advance(20)
            return _code(key.check(away))
        finally:
            home.close()
            away.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def test_a_thief_with_every_cookie_and_another_browser_must_step_up(
        live_portal: LivePortal, chromium: Browser) -> None:
    portal = live_portal
    victim, _ = signed_in_at_check(portal, chromium)
    stolen = victim.cookies()
    assert {"rempart-session", "rempart-device"} <= {c["name"] for c in stolen}

    portal.env.events.events.clear()
    thief = new_context(chromium, user_agent=THIEF_AGENT)
    thief.add_cookies(stolen)
    other = thief.new_page()
    other.goto(f"{portal.url}/portal/check")
    other.wait_for_url("**/portal/second-factor?next=/portal/check")
    assert other.locator("#check-submit").count() == 0
    assert other.locator("#totp-code").count() == 1
    screenshot(other, "21-thief-step-up")
    steps = portal.env.events.of_kind(EventKind.STEP_UP_REQUIRED)
    assert [e.reason for e in steps] == ["agent_changed"]
    # Without the second factor the thief reaches no personal data page.
    for path in ("/portal/history", "/portal/check"):
        other.goto(f"{portal.url}{path}")
        other.wait_for_url(f"**/portal/second-factor?next={path}")
    victim.close()
    thief.close()


def test_an_invitation_is_accepted(live_portal: LivePortal, chromium: Browser) -> None:
    portal = live_portal
    admin_id, _ = portal.env.account(role=Role.ORGANISATION_ADMIN)
    issued = portal.env.auth.invitations.invite(
        actor=portal.env.auth.accounts.get(admin_id).actor,
        contact=ContactFields("invitee@pharmacie.example", "Dominique Officine"),
        role=Role.PROVIDER_USER, organisation_id=portal.env.population.organisation_ids[0])
    context = new_context(chromium)
    page = context.new_page()
    page.goto(f"{portal.url}/portal/invitation/{issued.token}")
    page.wait_for_selector("#new-password")
    screenshot(page, "22-invitation")
    page.fill("#new-password", PASSWORD)
    page.fill("#new-password-again", PASSWORD)
    page.click("form[action^='/portal/invitation/'] button[type=submit]")
    page.wait_for_url("**/portal/login?notice=*")
    page.fill("#login", "invitee@pharmacie.example")
    page.fill("#password", PASSWORD)
    page.click("form[action='/portal/login'] button[type=submit]")
    page.wait_for_url("**/portal/enrol")
    context.close()


def test_a_software_step_up_code_is_confirmed(live_portal: LivePortal,
                                              chromium: Browser) -> None:
    portal = live_portal
    admin_id, email = portal.env.account(role=Role.ORGANISATION_ADMIN)
    registered = portal.env.auth.api_clients.register(
        actor=portal.env.auth.accounts.get(admin_id).actor,
        organisation_id=portal.env.population.organisation_ids[0], name="Logiciel d'officine")
    # The software checks from its practice, then from elsewhere: the guard steps its key
    # up and the API's 401 gives the code its user types on the portal.
    code = _software_code(portal, registered.info.client_id, registered.client_secret)
    context = new_context(chromium)
    page = context.new_page()
    enrol_totp_in_page(page, portal, email)
    page.goto(f"{portal.url}/portal/api-step-up")
    page.fill("#asu-code", code)
    page.click("form[action='/portal/api-step-up'] button[type=submit]")
    page.wait_for_selector("#asu-client")
    assert page.inner_text("#asu-client") == "Logiciel d'officine"
    screenshot(page, "23-api-step-up-confirm")
    page.click("form[action='/portal/api-step-up/confirm'] button[type=submit]")
    page.wait_for_url("**/portal/api-step-up?notice=api_step_up_done")
    context.close()


def test_an_admin_ends_a_colleagues_session(live_portal: LivePortal,
                                            chromium: Browser) -> None:
    portal = live_portal
    colleague_id, colleague_email = portal.env.account()
    _, admin_email = portal.env.account(role=Role.ORGANISATION_ADMIN)
    colleague = new_context(chromium)
    colleague_page = colleague.new_page()
    enrol_totp_in_page(colleague_page, portal, colleague_email)
    admin = new_context(chromium)
    page = admin.new_page()
    enrol_totp_in_page(page, portal, admin_email)
    session_id = portal.env.auth.sessions.list_for_account(colleague_id)[0].id
    page.goto(f"{portal.url}/portal/admin")
    row = page.locator(f"#admin-sessions-table tr:has(form[action="
                       f"'/portal/admin/sessions/{session_id}/end'])")
    assert "127.0.0.0/24" in row.inner_text()
    screenshot(page, "24-admin-sessions")
    row.locator("button").click()
    page.wait_for_url("**/portal/admin?notice=session_ended_other")
    assert page.locator(f"form[action='/portal/admin/sessions/{session_id}/end']").count() == 0
    colleague_page.goto(f"{portal.url}/portal/check")
    colleague_page.wait_for_url("**/portal/login?notice=session_ended")
    colleague.close()
    admin.close()
