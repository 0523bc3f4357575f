"""Answering the guard's step-up of a practice software's key: the code in the API's
401, confirmed on the portal by a person of the same organisation with a fresh second
factor (rempart.auth.api_step_up, docs/guard.md "On the check path"): an organisation
admin by default (who else may: tests/test_api_step_up_policy.py)."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import delete

from auth_support import DpopClient
from portal_support import (
    BASE_URL,
    GUARD_BACKENDS,
    Browser,
    PortalEnv,
    fresh,
    shared_portal_or_redis_guard,
    totp_secret_of,
)
from rempart.auth.events import EventKind
from rempart.auth.mail import render
from rempart.auth.models import ApiStepUpPolicy
from rempart.auth.outbox import NotificationKind
from rempart.auth.roles import Role
from test_fhir import eligibility_request

TOKEN_URL = f"{BASE_URL}/oauth/token"
CHECKS_URL = f"{BASE_URL}/api/v1/checks"
HOME = "203.0.113.7"
ELSEWHERE = "198.51.100.9"
PAGE = "/portal/api-step-up"
ADMIN = Role.ORGANISATION_ADMIN


@pytest.fixture(scope="module", params=GUARD_BACKENDS)
def module_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalEnv]:
    yield from shared_portal_or_redis_guard(request, tmp_path_factory)


@pytest.fixture
def env(module_env: PortalEnv) -> PortalEnv:
    # Every organisation back on the default (admins confirm): a test may have changed it.
    with module_env.runtime.engine.begin() as conn:
        conn.execute(delete(ApiStepUpPolicy))
    return fresh(module_env)


@dataclasses.dataclass
class Key:
    """One DPoP key of the practice software, with its token."""

    env: PortalEnv
    client_id: str
    secret: str
    dpop: DpopClient
    token: str = ""

    def issue(self, browser: Browser) -> None:
        answer = browser.post("/oauth/token", data={
            "grant_type": "client_credentials", "client_id": self.client_id,
            "client_secret": self.secret}, headers={"dpop": self.dpop.proof("POST", TOKEN_URL)})
        assert answer.status_code == 200, answer.text
        self.token = answer.json()["access_token"]

    def check(self, browser: Browser, person: str = "alice") -> httpx.Response:
        body = getattr(self.env.population, person).payload()
        return browser.post("/api/v1/checks", json=body, headers={
            "authorization": f"DPoP {self.token}",
            "dpop": self.dpop.proof("POST", CHECKS_URL, access_token=self.token)})


def _software(env: PortalEnv, which: int = 0) -> tuple[str, str]:
    admin_id, _ = env.account(role=Role.ORGANISATION_ADMIN, which=which)
    registered = env.auth.api_clients.register(
        actor=env.auth.accounts.get(admin_id).actor,
        organisation_id=env.population.organisation_ids[which], name="Logiciel d'officine")
    return registered.info.client_id, registered.client_secret


def _stepped_up_key(env: PortalEnv, client: tuple[str, str]) -> tuple[Key, httpx.Response]:
    """A key that checks from its practice, then from another network: stepped up."""
    key = Key(env, *client, dpop=DpopClient(env.clock))
    home, away = env.browser(address=HOME), env.browser(address=ELSEWHERE)
    key.issue(home)
    assert key.check(home).status_code == 201
    env.clock.advance(20)
    answer = key.check(away)
    return key, answer


def _code(answer: httpx.Response) -> str:
    assert answer.status_code == 401, answer.text
    assert 'error="insufficient_user_authentication"' in answer.headers["www-authenticate"]
    error = answer.json()["error"]
    assert error["code"] == "step_up_required"
    assert error["step_up"]["verification_uri"].endswith(PAGE)
    assert 0 < error["step_up"]["expires_in"] <= 600
    code = str(error["step_up"]["user_code"])
    assert re.fullmatch(r"[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}", code)
    return code


def _enter(browser: Browser, code: str) -> httpx.Response:
    return browser.form(PAGE, browser.get(PAGE), {"code": code})


def _confirm(browser: Browser, code: str) -> httpx.Response:
    shown = _enter(browser, code)
    assert shown.status_code == 200, shown.text
    assert "Logiciel d&#39;officine" in shown.text  # which software: its name
    return browser.form(f"{PAGE}/confirm", shown, {"code": code})


def _unknown(answer: httpx.Response) -> str:
    assert answer.status_code == 400, answer.text
    found = re.search(r'id="page-error">([^<]+)<', answer.text)
    assert found is not None
    return found.group(1)


def test_a_person_of_the_practice_releases_the_stepped_up_key_and_no_other(
        env: PortalEnv, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    client = _software(env)
    key, answer = _stepped_up_key(env, client)
    other, other_answer = _stepped_up_key(env, client)  # the client's second key
    code, other_code = _code(answer), _code(other_answer)
    assert code != other_code
    away = env.browser(address=ELSEWHERE)
    # Asked again while pending: the same code (no flood of codes), and the same answer
    # whoever the patient: no reason, nothing of the person.
    again, stranger = key.check(away), key.check(away, "stranger")
    assert _code(again) == code
    assert stranger.json()["error"] == again.json()["error"]
    for secret in env.population.alice.secrets():
        assert secret not in answer.text
    assert set(answer.json()["error"]) == {"code", "message", "fields", "step_up"}

    person, account_id, _, _ = env.signed_in(role=ADMIN)
    done = _confirm(person, code.lower().replace("-", " "))
    assert done.status_code == 303
    assert done.headers["location"] == f"{PAGE}?notice=api_step_up_done"
    assert key.check(away).status_code == 201  # released: its next check goes through
    assert _code(other.check(away)) == other_code  # the other key is still held
    [event] = env.events.of_kind(EventKind.API_CLIENT_STEPPED_UP)
    assert (event.account_id, event.client_id, event.reason) == (account_id, client[0], "totp")
    assert event.organisation_id == env.population.organisation_ids[0]
    assert code.replace("-", "") not in repr(env.events.events)
    # Used once only.
    assert _unknown(_enter(person, code)) == _unknown(_enter(person, "BBBB-BBBB"))
    captured = capsys.readouterr()
    logged = caplog.text + captured.out + captured.err
    assert "request refused" in logged
    for shown in (code, other_code):
        assert shown not in logged
        assert shown.replace("-", "") not in logged
        assert shown.replace("-", "").lower() not in logged


def test_another_organisation_learns_nothing_and_changes_nothing(env: PortalEnv) -> None:
    key, answer = _stepped_up_key(env, _software(env))
    code = _code(answer)
    outsider, _, _, _ = env.signed_in(role=ADMIN, which=1)
    refused = _enter(outsider, code)
    assert _unknown(refused) == _unknown(_enter(outsider, "BBBB-BBBB"))
    assert "Logiciel" not in refused.text
    assert outsider.form(f"{PAGE}/confirm", refused, {"code": code}).status_code == 400
    assert _code(key.check(env.browser(address=ELSEWHERE))) == code
    assert not env.events.of_kind(EventKind.API_CLIENT_STEPPED_UP)


def test_an_expired_code_is_refused(env: PortalEnv) -> None:
    key, answer = _stepped_up_key(env, _software(env))
    code = _code(answer)
    person, _, _, _ = env.signed_in(role=ADMIN)
    env.clock.advance(601)
    assert _unknown(_enter(person, code))
    away = env.browser(address=ELSEWHERE)
    key.issue(away)  # its token expired too
    fresh_code = _code(key.check(away))  # still held, with a new code
    assert fresh_code != code
    assert _confirm(person, fresh_code).status_code == 303
    assert key.check(away).status_code == 201


def test_without_a_recent_second_factor_the_person_is_sent_to_give_one(
        env: PortalEnv) -> None:
    person, _, _, secret = env.signed_in(role=ADMIN)
    env.clock.advance(600)
    assert person.get(PAGE).status_code == 200
    env.clock.advance(360)  # 16 minutes since the second factor, 6 since the last page
    key, answer = _stepped_up_key(env, _software(env))
    code = _code(answer)
    sent = _enter(person, code)
    assert sent.status_code == 303
    assert sent.headers["location"].startswith("/portal/second-factor?next=/portal/api-step-up")
    away = env.browser(address=ELSEWHERE)
    assert _code(key.check(away)) == code  # nothing changed
    page = person.get(sent.headers["location"])
    given = person.form("/portal/second-factor/totp", page,
                        {"code": env.totp(secret, steps_ahead=1), "next": PAGE})
    assert given.status_code == 303
    assert _confirm(person, code).status_code == 303
    assert key.check(away).status_code == 201


def test_a_form_without_its_csrf_token_changes_nothing(env: PortalEnv) -> None:
    key, answer = _stepped_up_key(env, _software(env))
    code = _code(answer)
    person, _, _, _ = env.signed_in(role=ADMIN)
    assert person.post(PAGE, data={"code": code}).status_code == 403
    assert person.post(f"{PAGE}/confirm", data={"code": code}).status_code == 403
    assert _code(key.check(env.browser(address=ELSEWHERE))) == code
    assert not env.events.of_kind(EventKind.API_CLIENT_STEPPED_UP)


def test_malformed_and_oversized_codes_are_refused(env: PortalEnv) -> None:
    person, _, _, _ = env.signed_in()
    assert _unknown(_enter(person, "AEIOU123"))
    assert _enter(person, "B" * 33).status_code == 400


def test_wrong_codes_are_throttled_per_account(env: PortalEnv) -> None:
    key, answer = _stepped_up_key(env, _software(env))
    code = _code(answer)
    person, _, _, _ = env.signed_in(role=ADMIN)
    free = env.auth.settings.throttle_account_free_failures
    statuses = [_enter(person, "BBBB-BBBB").status_code for _ in range(free + 2)]
    assert statuses[:free] == [400] * free
    assert statuses[-1] == 429
    held = _enter(person, code)  # even the right code waits
    assert held.status_code == 429
    assert int(held.headers["retry-after"]) >= 1
    env.clock.advance(int(held.headers["retry-after"]) + 1)
    assert _confirm(person, code).status_code == 303
    assert key.check(env.browser(address=ELSEWHERE)).status_code == 201


def test_a_revoked_or_suspended_client_is_not_released(env: PortalEnv) -> None:
    client = _software(env)
    key, answer = _stepped_up_key(env, client)
    code = _code(answer)
    away = env.browser(address=ELSEWHERE)
    # A key that ignores its step-up is suspended by the guard.
    for _ in range(40):
        env.clock.advance(2)
        last = key.check(away)
        if last.json()["error"]["code"] != "step_up_required":
            break
    assert last.json()["error"]["code"] == "session_revoked"
    person, _, _, _ = env.signed_in(role=ADMIN)
    refused = _confirm(person, code)
    assert refused.status_code == 409
    assert key.check(away).json()["error"]["code"] == "session_revoked"
    assert not env.events.of_kind(EventKind.API_CLIENT_STEPPED_UP)

    other, other_answer = _stepped_up_key(env, client)
    other_code = _code(other_answer)
    admin = env.auth.accounts.get(env.auth.accounts.in_organisation(
        env.population.organisation_ids[0])[0].id)
    env.auth.api_clients.revoke(actor=admin.actor, client_id=client[0])
    assert _unknown(_enter(person, other_code))
    assert other.check(away).status_code == 401  # its tokens refused, the code unusable


def test_the_fhir_answer_carries_the_same_code(env: PortalEnv) -> None:
    key, answer = _stepped_up_key(env, _software(env))
    code = _code(answer)
    fhir_url = f"{BASE_URL}/fhir/r4/CoverageEligibilityRequest/$submit"
    outcome = env.browser(address=ELSEWHERE).post(
        "/fhir/r4/CoverageEligibilityRequest/$submit",
        json=eligibility_request(env.population.alice),
        headers={"authorization": f"DPoP {key.token}",
                 "dpop": key.dpop.proof("POST", fhir_url, access_token=key.token)})
    assert outcome.status_code == 401
    issues = outcome.json()["issue"]
    assert issues[0]["severity"] == "error"
    assert f"user_code={code} " in issues[1]["diagnostics"]
    assert PAGE in issues[1]["diagnostics"]


def test_each_release_is_told_to_the_organisation_s_admins(env: PortalEnv) -> None:
    client = _software(env)  # registered by an admin of the organisation
    organisation = env.population.organisation_ids[0]
    admins = [a.id for a in env.auth.accounts.in_organisation(organisation)
              if a.role is Role.ORGANISATION_ADMIN]
    assert admins
    before = {a: len(env.auth.outbox.for_account(a)) for a in admins}
    # Where any user may confirm (the organisation's choice), a user tricked into it.
    env.auth.api_step_up_policies.set(actor=env.auth.accounts.get(admins[0]).actor,
                                      organisation_id=organisation, approvers="users")
    _, answer = _stepped_up_key(env, client)
    code = _code(answer)
    person, person_id, _, _ = env.signed_in()
    assert _confirm(person, code).status_code == 303
    name = env.auth.accounts.contact(person_id).display_name
    for admin in admins:
        [message] = env.auth.outbox.for_account(admin)[before[admin]:]
        assert message.kind is NotificationKind.API_KEY_RELEASED
        assert message.recipient == env.auth.accounts.contact(admin).email
        assert message.payload == {
            "software": "Logiciel d'officine", "client_id": client[0], "person": name,
            "at": env.clock.now().strftime("%Y-%m-%d %H:%M")}
        mail = render(message, mail_from="rempart@example.org").get_content()
        assert "Logiciel d'officine" in mail
        assert name in mail
        assert code not in mail
        assert code.replace("-", "") not in mail
        for secret in env.population.alice.secrets():
            assert secret not in mail
    # A confirmation that releases nothing (the client suspended meanwhile) tells no one.
    _, other_answer = _stepped_up_key(env, client)
    other_code = _code(other_answer)
    env.app.state.guard_gate.suspend_client(client_id=client[0])
    assert _confirm(person, other_code).status_code == 409
    for admin in admins:
        assert len(env.auth.outbox.for_account(admin)) == before[admin] + 1


# -- which second factor releases a key -----------------------------------------------------


def test_a_passkey_holder_releases_a_key_only_with_the_passkey(env: PortalEnv) -> None:
    """An admin signed in with TOTP who has a passkey: a relayed TOTP code is no proof
    against a phishing proxy, so the release asks for the passkey first."""
    key, answer = _stepped_up_key(env, _software(env))
    code = _code(answer)
    person, account_id, _, _ = env.signed_in(role=ADMIN)
    authenticator = env.add_passkey(person)
    sent = _enter(person, code)
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/portal/second-factor?next={PAGE}"
    [refused] = env.events.of_kind(EventKind.REQUEST_REFUSED)
    assert (refused.account_id, refused.reason) == (account_id, "api_step_up_passkey_required")
    assert code.replace("-", "") not in repr(env.events.events)
    assert _code(key.check(env.browser(address=ELSEWHERE))) == code  # still held
    page = person.get(sent.headers["location"])
    assert 'id="passkey-only"' in page.text
    assert 'id="totp-code"' not in page.text
    assert env.passkey_second_factor(person, authenticator, page, PAGE).status_code == 200
    assert _confirm(person, code).headers["location"] == f"{PAGE}?notice=api_step_up_done"
    assert key.check(env.browser(address=ELSEWHERE)).status_code == 201
    [event] = env.events.of_kind(EventKind.API_CLIENT_STEPPED_UP)
    assert (event.account_id, event.reason) == (account_id, "passkey")


def test_a_recovery_code_is_told_to_the_guard_as_one(env: PortalEnv) -> None:
    """An admin without a passkey, signed in with a recovery code: the release (and the
    guard) records a recovery code, not TOTP."""
    key, answer = _stepped_up_key(env, _software(env))
    code = _code(answer)
    account_id, email = env.account(role=ADMIN)
    first = env.browser()
    env.password_login(first, email)
    shown = first.form("/portal/enrol/totp", first.get("/portal/enrol"), {})
    codes_page = first.form("/portal/enrol/totp/confirm", shown,
                            {"code": env.totp(totp_secret_of(shown))})
    recovery = re.findall(r"<li><code>([^<]+)</code></li>", codes_page.text)
    assert recovery
    person = env.browser()
    page = person.get(env.password_login(person, email).headers["location"])
    signed = person.form("/portal/second-factor/recovery", page, {"code": recovery[0]})
    assert signed.headers["location"] == "/portal/check"
    assert _confirm(person, code).status_code == 303
    assert key.check(env.browser(address=ELSEWHERE)).status_code == 201
    [event] = env.events.of_kind(EventKind.API_CLIENT_STEPPED_UP)
    assert (event.account_id, event.reason) == (account_id, "recovery")
