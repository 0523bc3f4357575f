"""The portal's pages over HTTP: the check and its claim, the history, the security
page, the organisation admin's page, invitations, languages, headers and cookies."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from auth_support import PASSWORD
from portal_support import (
    BACKENDS,
    PortalEnv,
    csrf_of,
    fresh,
    portal_env,
    shared_portal,
    sqlite_instance,
)
from rempart.auth.events import EventKind
from rempart.auth.roles import Role
from rempart.portal.i18n import catalogue

REFERENCE = re.compile(r'id="check-reference">([A-Z2-7]{26})<')


@pytest.fixture(scope="module", params=BACKENDS)
def module_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalEnv]:
    yield from shared_portal(request, tmp_path_factory)


@pytest.fixture
def env(module_env: PortalEnv) -> PortalEnv:
    return fresh(module_env)


def fields(payload: dict[str, object]) -> dict[str, str]:
    return {k: str(v) for k, v in payload.items()}


def test_a_check_shows_the_answer_and_nothing_else_then_a_claim(env: PortalEnv) -> None:
    browser, _, _, _ = env.signed_in()
    page = browser.get("/portal/check")
    answer = browser.form("/portal/check", page, fields(env.population.alice.payload()))
    assert answer.status_code == 200
    found = REFERENCE.search(answer.text)
    assert found is not None
    assert "Pris en charge" in answer.text
    assert "100\u00a0% de la base" in answer.text
    for hidden in ("Zorglubova", "Quentinette", "married", "75011", "MA0002"):
        assert hidden not in answer.text
    claim = browser.form("/portal/claims", answer, {
        "check_reference": found.group(1), "category": "pharmacy",
        "care_date": env.clock.now().date().isoformat(), "billed": "20,00",
        "base_tariff": "20", "amo_rate": "65"})
    assert claim.status_code == 200
    assert "Facture acceptée" in claim.text
    assert "7,00\u00a0€" in claim.text  # 35 % of 20 EUR for the complementary insurer
    history = browser.get("/portal/history")
    assert found.group(1) in history.text
    assert "Facture acceptée" in history.text


def test_negative_answers_look_alike(env: PortalEnv) -> None:
    browser, _, _, _ = env.signed_in()
    population = env.population
    pages = []
    for payload in (population.stranger.payload(), population.bob.payload(),
                    population.alice.payload(category="hospital"),
                    population.alice.payload(member_number="MA0999")):
        answer = browser.form("/portal/check", browser.get("/portal/check"), fields(payload))
        assert answer.status_code == 200
        pages.append(REFERENCE.sub("", answer.text.split('id="check-answer"')[1]))
    assert "Pas de prise en charge" in pages[0]
    assert len({p.replace("Hospitalisation", "Pharmacie") for p in pages}) == 1


def test_a_claim_form_comes_from_the_history_and_bad_links_are_refused(
        env: PortalEnv) -> None:
    browser, _, _, _ = env.signed_in()
    answer = browser.form("/portal/check", browser.get("/portal/check"),
                          fields(env.population.alice.payload(category="optical")))
    reference = REFERENCE.search(answer.text).group(1)  # type: ignore[union-attr]
    history = browser.get("/portal/history")
    link = re.search(r'href="(/portal/claims/new\?[^"]+)"', history.text)
    assert link is not None
    form = browser.get(link.group(1).replace("&amp;", "&"))
    assert form.status_code == 200
    assert reference in form.text
    for bad in ("reference=x&category=optical&care_date=2026-03-02",
                f"reference={reference}&category=spa&care_date=2026-03-02",
                f"reference={reference}&category=optical&care_date=soon"):
        assert browser.get(f"/portal/claims/new?{bad}").status_code == 400
    bad_amounts = browser.form("/portal/claims", form, {
        "check_reference": reference, "category": "optical",
        "care_date": env.clock.now().date().isoformat(), "billed": "douze",
        "base_tariff": "-3", "amo_rate": "250"})
    assert bad_amounts.status_code == 422
    assert bad_amounts.text.count('class="field-error"') == 3
    other_org, _, _, _ = env.signed_in(which=1)
    stolen = other_org.form("/portal/claims", other_org.get("/portal/check"), {
        "check_reference": reference, "category": "optical",
        "care_date": env.clock.now().date().isoformat(), "billed": "10",
        "base_tariff": "10", "amo_rate": "60"})
    assert stolen.status_code == 404


def test_the_security_page_lists_and_ends_sessions(env: PortalEnv) -> None:
    counter, account_id, email, secret = env.signed_in()
    office = env.browser(address="192.0.2.200")
    page = office.get(env.password_login(office, email).headers["location"])
    office.form("/portal/second-factor/totp", page, {"code": env.totp(secret)})
    security = counter.get("/portal/security")
    assert security.status_code == 200
    sessions = env.auth.sessions.list_for_account(account_id)
    assert len(sessions) == 2
    assert "192.0.2.200" in security.text
    assert "cette session" in security.text
    other = next(s for s in sessions if s.address == "192.0.2.200")
    ended = counter.form(f"/portal/security/sessions/{other.id}/end", security, {})
    assert ended.headers["location"] == "/portal/security?notice=session_ended_other"
    assert office.get("/portal/check").headers["location"].startswith("/portal/login")
    assert counter.get("/portal/check").status_code == 200
    assert "Session fermée" in counter.get(ended.headers["location"]).text


def test_new_recovery_codes_need_a_recent_second_factor(env: PortalEnv) -> None:
    browser, _, _, secret = env.signed_in()
    env.clock.advance(env.auth.settings.recent_auth_seconds + 60)
    page = browser.get("/portal/security")
    stale = browser.form("/portal/security/recovery-codes", page, {})
    assert stale.headers["location"] == "/portal/second-factor?next=/portal/security"
    step_up = browser.get(stale.headers["location"])
    browser.form("/portal/second-factor/totp", step_up,
                 {"code": env.totp(secret), "next": "/portal/security"})
    fresh_codes = browser.form("/portal/security/recovery-codes",
                               browser.get("/portal/security"), {})
    assert fresh_codes.status_code == 200
    assert fresh_codes.text.count("<li><code>") == env.auth.settings.recovery_code_count


def test_an_admin_invites_a_colleague_who_joins(env: PortalEnv) -> None:
    admin, _, _, _ = env.signed_in(role=Role.ORGANISATION_ADMIN)
    page = admin.get("/portal/admin")
    assert page.status_code == 200
    invited = admin.form("/portal/admin/invitations", page, {
        "email": "nouvelle@pharmacie.example", "display_name": "Nina Nouvelle",
        "role": "provider_user"})
    link = re.search(r"<code>http://rempart\.test(/portal/invitation/[^<]+)</code>",
                     invited.text)
    assert link is not None
    newcomer = env.browser()
    form = newcomer.get(link.group(1))
    assert newcomer.form(link.group(1), form, {"password": "password1234",
                                               "password_again": "password1234"}
                         ).status_code == 400  # a common password
    joined = newcomer.form(link.group(1), form, {"password": PASSWORD,
                                                 "password_again": PASSWORD})
    assert joined.headers["location"] == "/portal/login?notice=account_created"
    again = newcomer.form(link.group(1), form, {"password": PASSWORD,
                                                "password_again": PASSWORD})
    assert again.status_code == 400
    assert "déjà utilisée" in again.text
    assert env.password_login(newcomer, "nouvelle@pharmacie.example").headers[
        "location"] == "/portal/enrol"


def test_api_clients_are_registered_with_a_recent_second_factor_and_revoked(
        env: PortalEnv) -> None:
    admin, _, _, secret = env.signed_in(role=Role.ORGANISATION_ADMIN)
    env.clock.advance(env.auth.settings.recent_auth_seconds + 60)
    stale = admin.form("/portal/admin/api-clients", admin.get("/portal/admin"),
                       {"name": "Logiciel d'officine"})
    assert stale.headers["location"] == "/portal/second-factor?next=/portal/admin"
    admin.form("/portal/second-factor/totp", admin.get(stale.headers["location"]),
               {"code": env.totp(secret), "next": "/portal/admin"})
    registered = admin.form("/portal/admin/api-clients", admin.get("/portal/admin"),
                            {"name": "Logiciel d'officine"})
    client_id = re.search(r'id="new-client-id">(rc_[0-9a-f]+)<', registered.text)
    assert client_id is not None
    assert 'id="new-client-secret"' in registered.text
    assert registered.text.count("rc_") >= 2  # in the notice and in the table
    revoked = admin.form(f"/portal/admin/api-clients/{client_id.group(1)}/revoke",
                         admin.get("/portal/admin"), {})
    assert revoked.headers["location"] == "/portal/admin?notice=client_revoked"
    assert env.auth.api_clients.active(client_id.group(1)) is None
    assert 'id="new-client-secret"' not in admin.get("/portal/admin").text


def test_a_provider_user_administers_nothing(env: PortalEnv) -> None:
    admin_id, _ = env.account(role=Role.ORGANISATION_ADMIN)
    user, _, _, _ = env.signed_in()
    token = csrf_of(user.get("/portal/check"))
    assert user.get("/portal/admin").status_code == 403
    assert user.post("/portal/admin/api-clients", data={"name": "x", "csrf_token": token}
                     ).status_code == 403
    assert user.post(f"/portal/admin/accounts/{admin_id}/suspend",
                     data={"csrf_token": token}).status_code == 403
    assert not env.events.of_kind(EventKind.ACCOUNT_SUSPENDED)
    assert not env.events.of_kind(EventKind.API_CLIENT_REGISTERED)


def test_suspending_a_colleague_ends_their_sessions(env: PortalEnv) -> None:
    colleague, colleague_id, _, _ = env.signed_in()
    admin, _, _, _ = env.signed_in(role=Role.ORGANISATION_ADMIN)
    done = admin.form(f"/portal/admin/accounts/{colleague_id}/suspend",
                      admin.get("/portal/admin"), {})
    assert done.headers["location"] == "/portal/admin?notice=account_suspended"
    assert colleague.get("/portal/check").headers["location"].startswith("/portal/login")
    back = admin.form(f"/portal/admin/accounts/{colleague_id}/reactivate",
                      admin.get("/portal/admin"), {})
    assert back.headers["location"] == "/portal/admin?notice=account_reactivated"


def test_english_is_one_click_away(env: PortalEnv) -> None:
    browser = env.browser()
    assert '<html lang="fr">' in browser.get("/portal/login").text
    switched = browser.get("/portal/lang/en?next=/portal/login")
    assert switched.headers["location"] == "/portal/login"
    page = browser.get("/portal/login")
    assert '<html lang="en">' in page.text
    assert "Sign in with a passkey" in page.text
    assert browser.get("/portal/lang/en?next=https://evil.example/").headers[
        "location"] == "/portal/check"


def test_both_catalogues_have_the_same_messages() -> None:
    assert catalogue("fr").keys() == catalogue("en").keys()
    templates = Path(__file__).parents[1] / "src/rempart/portal/templates"
    used = set()
    for template in templates.glob("*.html"):
        used |= set(re.findall(r't\(["\']([a-z_]+\.[a-z_.]*[a-z_])["\']',
                               template.read_text()))
    assert len(used) > 100
    assert used <= catalogue("fr").keys()


def test_security_headers_everywhere(env: PortalEnv) -> None:
    browser = env.browser()
    for path in ("/portal/login", "/api/v1/checks", "/portal/static/portal.css"):
        headers = browser.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
    assert browser.get("/portal/login").headers["cache-control"] == "no-store"
    assert browser.get("/").headers["location"] == "/portal/"


def test_static_assets_are_served_by_the_app_and_pages_load_nothing_else(
        env: PortalEnv) -> None:
    browser, _, _, _ = env.signed_in(role=Role.ORGANISATION_ADMIN)
    assert browser.get("/portal/static/portal.js").headers["content-type"].startswith(
        "text/javascript")
    assert browser.get("/portal/static/portal.css").status_code == 200
    for path in ("/portal/login", "/portal/check", "/portal/history", "/portal/security",
                 "/portal/admin", "/portal/enrol"):
        text = browser.get(path).text
        assert re.findall(r'(?:src|href)="(https?:)?//', text) == [], path
        assert "<script>" not in text
        assert " on" + "click=" not in text


def test_secure_cookies_carry_the_host_prefix(tmp_path: Path) -> None:
    with portal_env(sqlite_instance(tmp_path), cookie_secure=True) as env:
        _, email = env.account()
        browser = env.browser()
        page = browser.get("/portal/login")
        answer = browser.post("/portal/login", data={
            "login": email, "password": PASSWORD,
            "csrf_token": page.headers["set-cookie"].split("=", 1)[1].split(";")[0]},
            headers={"cookie": page.headers["set-cookie"].split(";")[0]})
        cookies = answer.headers.get_list("set-cookie")
        names = sorted(c.split("=")[0] for c in cookies)
        assert names == ["__Host-rempart-device", "__Host-rempart-session"]
        for cookie in cookies:
            flags = cookie.lower()
            assert "; secure" in flags
            assert "; httponly" in flags
            assert "samesite=strict" in flags
            assert "path=/" in flags
            assert "domain=" not in flags
        assert "max-age" not in next(c for c in cookies if "session" in c).lower()
