"""Bad input on the portal's forms: missing or foreign CSRF tokens, requests from another
site, oversized, duplicated, unknown or malformed fields. Each is refused with a clear
message naming the field (never its value), reported as a security event, and changes
nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from portal_support import BACKENDS, PortalEnv, csrf_of, fresh, shared_portal
from rempart.auth.events import EventKind
from rempart.auth.models import ApiClient, ApiStepUpPolicy, LoginSession
from rempart.auth.roles import Role
from rempart.coverage.models import Check
from rempart.portal.fields import FieldProblem, cents_field
from rempart.web.forms import FormError, RawForm, parse_form

FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module", params=BACKENDS)
def module_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalEnv]:
    yield from shared_portal(request, tmp_path_factory)


@pytest.fixture
def env(module_env: PortalEnv) -> PortalEnv:
    return fresh(module_env)


def rows(env: PortalEnv, table: type) -> int:
    with env.runtime.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def refusals(env: PortalEnv) -> list[tuple[str | None, dict[str, str]]]:
    return [(e.reason, e.details) for e in env.events.of_kind(EventKind.REQUEST_REFUSED)]


def test_state_changing_posts_without_the_csrf_token_are_refused(env: PortalEnv) -> None:
    browser, account_id, _, _ = env.signed_in(role=Role.ORGANISATION_ADMIN)
    sessions = env.auth.sessions.list_for_account(account_id)
    checks, clients = rows(env, Check), rows(env, ApiClient)
    policies = rows(env, ApiStepUpPolicy)
    attempts = {
        "/portal/check": env.population.alice.payload(),
        "/portal/logout": {},
        f"/portal/security/sessions/{sessions[0].id}/end": {},
        "/portal/admin/api-clients": {"name": "Logiciel pirate"},
        "/portal/admin/api-step-up-policy": {"approvers": "users"},
        "/portal/enrol/totp": {},
    }
    for path, fields in attempts.items():
        for token in (None, "forged-token", csrf_of(browser.get("/portal/login"))):
            data = dict(fields) if token is None else {**fields, "csrf_token": token}
            answer = browser.post(path, data=data)
            assert answer.status_code == 403, (path, token)
            assert "rechargez la page" in answer.text
    assert rows(env, Check) == checks
    assert rows(env, ApiClient) == clients
    assert rows(env, ApiStepUpPolicy) == policies
    assert [s.id for s in env.auth.sessions.list_for_account(account_id)] == [
        s.id for s in sessions]
    assert browser.get("/portal/check").status_code == 200  # still signed in
    assert {reason for reason, _ in refusals(env)} == {"csrf"}
    assert len(refusals(env)) == 3 * len(attempts)


def test_a_request_from_another_site_is_refused_even_with_the_token(env: PortalEnv) -> None:
    browser, _, _, _ = env.signed_in()
    page = browser.get("/portal/check")
    checks = rows(env, Check)
    for headers in ({"sec-fetch-site": "cross-site"},
                    {"origin": "https://rempart-secure-login.example"}):
        answer = browser.form("/portal/check", page,
                              {k: str(v) for k, v in env.population.alice.payload().items()},
                              headers=headers)
        assert answer.status_code == 403
    assert rows(env, Check) == checks
    assert [reason for reason, _ in refusals(env)] == ["cross_site", "cross_origin"]


def test_the_login_form_needs_its_own_double_submit_token(env: PortalEnv) -> None:
    _, email = env.account()
    browser = env.browser()
    browser.get("/portal/login")
    sessions = rows(env, LoginSession)
    for token in (None, "another-token"):
        data = {"login": email, "password": "correct horse battery staple 42"}
        if token:
            data["csrf_token"] = token
        assert browser.post("/portal/login", data=data).status_code == 403
    assert rows(env, LoginSession) == sessions
    assert not env.events.of_kind(EventKind.PASSWORD_ACCEPTED)


@pytest.mark.parametrize(("body", "field"), [
    ("nir=" + "1" * 40, "nir"),
    ("member_number=" + "A" * 500, "member_number"),
    ("birth_rank=1&birth_rank=2", "birth_rank"),
    ("nir=%01%02", "nir"),
    ("category=pharmacy&favourite_colour=blue", "form"),
    ("nir=%FF%FE", "form"),
])
def test_oversized_or_malformed_fields_are_refused_by_name(env: PortalEnv, body: str,
                                                           field: str) -> None:
    browser, _, _, _ = env.signed_in()
    page = browser.get("/portal/check")
    checks = rows(env, Check)
    answer = browser.post("/portal/check", content=f"csrf_token={csrf_of(page)}&{body}",
                          headers=FORM)
    assert answer.status_code == 400
    assert f"({field}" in answer.text
    assert "1" * 40 not in answer.text
    assert "A" * 500 not in answer.text
    assert "blue" not in answer.text
    assert rows(env, Check) == checks
    assert refusals(env) == [("malformed_form", {"field": field})]


def test_a_form_sent_as_something_else_is_refused(env: PortalEnv) -> None:
    browser, _, _, _ = env.signed_in()
    answer = browser.post("/portal/check", json=env.population.alice.payload())
    assert answer.status_code == 400
    assert refusals(env) == [("malformed_form", {"field": "form"})]


def test_a_body_over_the_cap_is_refused_before_it_is_read(env: PortalEnv) -> None:
    browser, _, _, _ = env.signed_in()
    cap = env.runtime.settings.max_body_bytes
    answer = browser.post("/portal/check", content=b"nir=" + b"1" * cap, headers=FORM)
    assert answer.status_code == 413


def test_check_fields_are_named_never_echoed(env: PortalEnv) -> None:
    browser, _, _, _ = env.signed_in()
    page = browser.get("/portal/check")
    alice = env.population.alice
    bad_nir = alice.nir[:13] + ("00" if alice.nir[13:] != "00" else "01")
    fields = {k: str(v) for k, v in alice.payload(nir=bad_nir, member_number="M@@@",
                                                  birth_date="1985-13-45").items()}
    answer = browser.form("/portal/check", page, fields)
    assert answer.status_code == 422
    assert 'aria-invalid="true"' in answer.text
    for secret in (bad_nir, "M@@@", "1985-13-45", alice.nir[:13]):
        assert secret not in answer.text
    fixed = browser.form("/portal/check", answer,
                         {k: str(v) for k, v in alice.payload(nir=bad_nir).items()})
    assert fixed.status_code == 422
    assert 'id="nir-error"' in fixed.text
    assert bad_nir not in fixed.text


LIMITS = {"nir": 21, "code": 8, "csrf_token": 64}


@given(st.binary(max_size=300))
def test_any_body_is_parsed_within_limits_or_refused_by_name(body: bytes) -> None:
    refused: FormError | None = None
    form: dict[str, str] = {}
    try:
        form = parse_form(RawForm("application/x-www-form-urlencoded", body), limits=LIMITS)
    except FormError as exc:
        refused = exc
    if refused is not None:
        assert refused.field in {*LIMITS, "form"}
        assert refused.reason
    assert set(form) <= set(LIMITS)
    for name, value in form.items():
        assert len(value) <= LIMITS[name]
        assert all(ord(c) >= 32 or c in "\t\r\n" for c in value)


@given(st.integers(min_value=0, max_value=9_999_999_99), st.sampled_from([",", "."]))
def test_euros_typed_either_way_are_the_same_cents(cents: int, separator: str) -> None:
    text = f"{cents // 100}{separator}{cents % 100:02d}"
    assert cents_field({"billed": text}, "billed") == cents


@pytest.mark.parametrize("text", ["", "12,345", "-1", "1e3", "12,5,0", "douze", "12 €"])
def test_amounts_that_are_not_euros_are_refused(text: str) -> None:
    with pytest.raises(FieldProblem):
        cents_field({"billed": text}, "billed")
