"""The portal in real Chromium: passkey enrolment and login, a check and its claim, a
TOTP login, a replayed session cookie, keyboard use, and a screenshot of each page
(artifacts/screenshots/)."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from auth_support import PASSWORD
from browser.browser_support import LivePortal, add_authenticator, new_context, screenshot
from rempart.auth.events import EventKind
from rempart.auth.roles import Role

pytestmark = pytest.mark.browser


def password_step(page: Page, portal: LivePortal, email: str) -> None:
    page.goto(f"{portal.url}/portal/login")
    page.fill("#login", email)
    page.fill("#password", PASSWORD)
    page.click("form[action='/portal/login'] button[type=submit]")


def totp_code(portal: LivePortal, secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(portal.env.clock.now().timestamp() + 30 * steps_ahead)


def enrol_totp_in_page(page: Page, portal: LivePortal, email: str) -> str:
    password_step(page, portal, email)
    page.wait_for_url("**/portal/enrol")
    page.click("#totp-begin")
    secret = page.get_attribute("#totp-secret", "data-secret") or ""
    page.fill("#totp-confirm", totp_code(portal, secret))
    page.click("form[action='/portal/enrol/totp/confirm'] button[type=submit]")
    page.wait_for_selector("#recovery-codes")
    portal.env.clock.advance(30)  # later codes belong to later time steps
    return secret


def signed_in_at_check(portal: LivePortal, chromium: Browser) -> tuple[BrowserContext, Page]:
    """A new provider's browser, enrolled with TOTP and on the check page."""
    _, email = portal.env.account()
    context = new_context(chromium)
    page = context.new_page()
    enrol_totp_in_page(page, portal, email)
    page.goto(f"{portal.url}/portal/check")
    page.wait_for_selector("#check-submit")
    return context, page


def sign_out(page: Page) -> None:
    page.click("form[action='/portal/logout'] button")
    page.wait_for_url("**/portal/login?notice=signed_out")


def fill_check(page: Page, portal: LivePortal) -> None:
    alice = portal.env.population.alice
    page.fill("#nir", alice.nir)
    page.fill("#birth_date", alice.birth_date.isoformat())
    page.fill("#birth_rank", str(alice.birth_rank))
    page.fill("#amc_number", alice.amc_number)
    page.fill("#member_number", alice.member_number)
    page.select_option("#category", "pharmacy")


def test_passkey_enrolment_login_check_and_claim(live_portal: LivePortal,
                                                 chromium: Browser) -> None:
    portal = live_portal
    _, email = portal.env.account()
    context = new_context(chromium)
    page = context.new_page()
    cdp, authenticator = add_authenticator(context, page)

    page.goto(f"{portal.url}/portal/login")
    screenshot(page, "01-login")
    password_step(page, portal, email)
    page.wait_for_url("**/portal/enrol")
    screenshot(page, "02-enrol")
    page.click("#passkey-register")
    page.wait_for_selector("#recovery-section:not([hidden])")
    assert page.locator("#recovery-list li").count() == 10
    screenshot(page, "03-recovery-codes")
    page.click("#recovery-continue")
    page.wait_for_url("**/portal/check")

    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert len(credentials["credentials"]) == 1
    assert credentials["credentials"][0]["isResidentCredential"] is True

    # Sign out, then back in with the passkey alone (username-less, user verified).
    sign_out(page)
    page.click("#passkey-login")
    page.wait_for_url("**/portal/check")
    screenshot(page, "04-check-form")

    fill_check(page, portal)
    page.click("#check-submit")
    page.wait_for_selector("#check-answer")
    answer = page.inner_text("#check-answer")
    assert "Pris en charge" in answer
    reference = page.inner_text("#check-reference")
    assert len(reference) == 26
    # Exactly the disclosed fields: nothing the provider did not type is on the page.
    body = page.inner_text("body")
    for hidden in ("Zorglubova", "Quentinette", "married", "75011"):
        assert hidden not in body
    screenshot(page, "05-check-answer")

    page.fill("#billed", "10,00")
    page.fill("#base_tariff", "10,00")
    page.fill("#amo_rate", "65")
    page.click("#claim-submit")
    page.wait_for_selector("#claim-result")
    assert "Facture acceptée" in page.inner_text("#claim-heading")
    assert "3,50" in page.inner_text("#claim-amc")
    screenshot(page, "06-claim")

    page.click("nav >> text=Historique")
    page.wait_for_url("**/portal/history")
    assert reference in page.inner_text("#checks-table")
    screenshot(page, "07-history")
    page.click("nav >> text=Sécurité du compte")
    page.wait_for_url("**/portal/security")
    assert page.locator("#passkey-list li").count() == 1
    screenshot(page, "08-security")
    assert credentials_used(cdp, authenticator) >= 2
    context.close()


def credentials_used(cdp: Any, authenticator: str) -> int:
    found = cdp.send("WebAuthn.getCredentials",
                     {"authenticatorId": authenticator})["credentials"]
    return int(found[0]["signCount"])


def test_totp_login_by_keyboard_and_the_admin_page(live_portal: LivePortal,
                                                   chromium: Browser) -> None:
    portal = live_portal
    _, email = portal.env.account(role=Role.ORGANISATION_ADMIN)
    context = new_context(chromium)
    page = context.new_page()
    password_step(page, portal, email)
    page.wait_for_url("**/portal/enrol")
    page.click("#totp-begin")
    page.wait_for_selector("#totp-secret")
    screenshot(page, "09-enrol-totp")
    secret = page.get_attribute("#totp-secret", "data-secret") or ""
    page.fill("#totp-confirm", totp_code(portal, secret))
    page.keyboard.press("Enter")
    page.wait_for_selector("#recovery-codes")
    portal.env.clock.advance(30)
    page.click("text=J'ai noté mes codes")
    page.wait_for_url("**/portal/check")
    sign_out(page)

    # The whole login with the keyboard only: the skip link comes first, then the
    # passkey button (offered first), then the password form.
    page.goto(f"{portal.url}/portal/login")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.focus("#login")
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/portal/second-factor")
    screenshot(page, "10-second-factor")
    page.fill("#totp-code", totp_code(portal, secret))
    page.keyboard.press("Enter")
    page.wait_for_url("**/portal/check")

    page.click("nav >> text=Administration")
    page.wait_for_url("**/portal/admin")
    page.fill("#client-name", "Logiciel d'officine")
    page.click("form[action='/portal/admin/api-clients'] button")
    page.wait_for_selector("#client-registered")
    assert page.inner_text("#new-client-id").startswith("rc_")
    screenshot(page, "11-admin")

    page.click("text=English")
    page.wait_for_url("**/portal/admin")
    assert page.inner_text("h1") == "Organisation administration"
    page.click("text=Français")
    context.close()


def test_a_session_cookie_replayed_from_another_browser_is_refused(
        live_portal: LivePortal, chromium: Browser) -> None:
    portal = live_portal
    victim, page = signed_in_at_check(portal, chromium)
    stolen = [c for c in victim.cookies() if c["name"] == "rempart-session"]
    assert len(stolen) == 1
    assert stolen[0]["httpOnly"] is True
    assert stolen[0]["sameSite"] == "Strict"

    portal.env.events.events.clear()
    attacker = new_context(chromium)
    attacker.add_cookies(stolen)
    other = attacker.new_page()
    other.goto(f"{portal.url}/portal/check")
    other.wait_for_url("**/portal/login?notice=session_ended")
    assert other.locator("#check-submit").count() == 0
    refused = portal.env.events.of_kind(EventKind.SESSION_REFUSED)
    assert [e.reason for e in refused] == ["client_mismatch"]
    # The replay also ends the victim's session: whoever holds it must log in again.
    page.goto(f"{portal.url}/portal/check")
    page.wait_for_url("**/portal/login?notice=session_ended")
    victim.close()
    attacker.close()


def test_every_field_has_a_label_and_focus_is_visible(live_portal: LivePortal,
                                                      chromium: Browser) -> None:
    context = new_context(chromium)
    page = context.new_page()
    page.goto(f"{live_portal.url}/portal/login")
    unlabelled = page.evaluate("""() => [...document.querySelectorAll(
        'input:not([type=hidden]), select, textarea')].filter(el =>
        !(el.id && document.querySelector(`label[for="${el.id}"]`)) &&
        !el.getAttribute('aria-label')).map(el => el.name)""")
    assert unlabelled == []
    page.focus("#login")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    context.close()
