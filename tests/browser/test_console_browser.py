"""The security console in real Chromium: a security analyst enrols a passkey (virtual
authenticator), sees an open alert with the guard's reasons, suspends the account from
the keyboard, restores it, and a screenshot of each page (artifacts/screenshots/)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from browser.browser_support import LivePortal, add_authenticator, new_context, screenshot
from browser.test_portal_browser import password_step
from console_support import REASONS, raise_alert
from rempart.auth.roles import AccountStatus, Role

pytestmark = pytest.mark.browser


def test_an_analyst_contains_and_restores_an_account(live_portal: LivePortal,
                                                     chromium: Browser) -> None:
    portal = live_portal
    provider_id, _ = portal.env.account()
    raise_alert(portal.env, provider_id)
    _, email = portal.env.account(role=Role.OPERATOR_SECURITY_ANALYST)
    context = new_context(chromium)
    page = context.new_page()
    add_authenticator(context, page)

    password_step(page, portal, email)
    page.wait_for_url("**/portal/enrol")
    page.click("#passkey-register")
    # Operators get no recovery codes (passkey only), and land on the console.
    page.wait_for_url("**/portal/console")
    page.wait_for_selector("#alerts-table")
    row = page.locator("#alerts-table tbody tr").filter(has_text=f"n° {provider_id}")
    assert row.count() == 1
    for reason in REASONS:
        assert reason in row.inner_text()
    screenshot(page, "20-console-alerts")

    row.locator("a").click()
    page.wait_for_url(f"**/portal/console/accounts/{provider_id}")
    assert REASONS[1] in page.inner_text("#timeline")
    screenshot(page, "21-console-account")
    page.focus("#suspend-account")  # from the keyboard
    page.keyboard.press("Enter")
    page.wait_for_url("**notice=console_suspended")
    assert page.inner_text("#account-status") == "Suspendu"
    assert portal.env.auth.accounts.get(provider_id).status is AccountStatus.SUSPENDED
    screenshot(page, "22-console-suspended")

    page.click("#restore-account")
    page.wait_for_url("**notice=console_restored")
    assert page.inner_text("#account-status") == "Actif"
    assert portal.env.auth.accounts.get(provider_id).status is AccountStatus.ACTIVE
    page.click("text=Retour aux alertes")
    page.wait_for_url("**/portal/console")
    assert page.locator("#alerts-table tbody tr").filter(
        has_text=f"n° {provider_id}").count() == 0
    screenshot(page, "23-console-restored")

    page.click("text=Réponse à une violation de données")
    page.wait_for_selector("#breach-form")
    unlabelled = page.evaluate("""() => [...document.querySelectorAll(
        'input:not([type=hidden]), select, textarea')].filter(el =>
        !(el.id && document.querySelector(`label[for="${el.id}"]`))).map(el => el.name)""")
    assert unlabelled == []
    screenshot(page, "24-console-breach")
    context.close()
