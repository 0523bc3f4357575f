"""Who of an organisation may confirm an API key's step-up code
(rempart.auth.api_step_up_policy): its admins only by default, any of its users if an
admin chose so on the admin page; anyone else who types a right code is told an admin
must confirm it, and the code stays valid for one."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import orjson
import pytest
from sqlalchemy import delete, text

from portal_support import BACKENDS, Browser, PortalEnv, csrf_of, fresh, shared_portal
from rempart.audit import AuditLog
from rempart.audit.security_sink import AuditSecurityEventSink
from rempart.auth.api_step_up_policy import ApiStepUpPolicies, Approvers
from rempart.auth.errors import NotPermitted
from rempart.auth.events import EventKind, SecurityEvent
from rempart.auth.mail import render
from rempart.auth.models import ApiStepUpPolicy
from rempart.auth.outbox import NotificationKind, OutboxEntry
from rempart.auth.roles import AccountStatus, Role
from rempart.portal.i18n import Translator
from test_api_step_up import ELSEWHERE, PAGE, _code, _confirm, _enter, _software, _stepped_up_key

ADMIN = Role.ORGANISATION_ADMIN
POLICY = "/portal/admin/api-step-up-policy"


@pytest.fixture(scope="module", params=BACKENDS)
def module_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalEnv]:
    yield from shared_portal(request, tmp_path_factory)


@pytest.fixture
def env(module_env: PortalEnv) -> PortalEnv:
    with module_env.runtime.engine.begin() as conn:  # every organisation on the default
        conn.execute(delete(ApiStepUpPolicy))
    return fresh(module_env)


def _error(page: httpx.Response) -> str:
    found = re.search(r'id="page-error">([^<]+)<', page.text)
    assert found is not None, page.text
    return html.unescape(found.group(1))


def _approvers(env: PortalEnv, which: int = 0) -> Approvers:
    return env.auth.api_step_up_policies.approvers(
        organisation_id=env.population.organisation_ids[which])


def _choose(admin: Browser, approvers: str) -> httpx.Response:
    return admin.form(POLICY, admin.get("/portal/admin"), {"approvers": approvers})


def _admin_required_events(env: PortalEnv) -> list[SecurityEvent]:
    return [e for e in env.events.of_kind(EventKind.REQUEST_REFUSED)
            if e.reason == "api_step_up_admin_required"]


def test_by_default_a_user_is_told_an_admin_must_confirm_and_the_code_stays_valid(
        env: PortalEnv) -> None:
    assert _approvers(env) is Approvers.ADMINS  # no organisation has chosen
    client = _software(env)
    key, answer = _stepped_up_key(env, client)
    code = _code(answer)
    user, user_id, _, _ = env.signed_in()
    required = Translator("fr")("api_step_up.admin_required")
    looked_up = _enter(user, code)
    assert looked_up.status_code == 403
    assert 'id="asu-admins-only"' in looked_up.text  # and on the page before it
    assert _error(looked_up) == required
    assert "/portal/api-step-up/confirm" not in looked_up.text  # no confirm button
    # The confirm form posted without the look-up's page: refused the same way.
    posted = user.form(f"{PAGE}/confirm", user.get(PAGE), {"code": code})
    assert posted.status_code == 403
    assert _error(posted) == required
    user.get("/portal/lang/en?next=/portal/api-step-up")
    assert _error(_enter(user, code)) == Translator("en")("api_step_up.admin_required")
    away = env.browser(address=ELSEWHERE)
    assert _code(key.check(away)) == code  # still held, the same code pending
    assert not env.events.of_kind(EventKind.API_CLIENT_STEPPED_UP)
    refusals = _admin_required_events(env)
    assert len(refusals) == 3
    for event in refusals:
        assert (event.account_id, event.client_id, event.organisation_id) == (
            user_id, client[0], env.population.organisation_ids[0])
    assert code.replace("-", "") not in repr(env.events.events)
    # A wrong code is still just unknown (and counted by the throttle), not "ask an admin".
    assert _enter(user, "BBBB-BBBB").status_code == 400

    admin, admin_id, _, _ = env.signed_in(role=ADMIN)
    assert 'id="asu-admins-only"' not in admin.get(PAGE).text
    assert _confirm(admin, code).status_code == 303
    assert key.check(away).status_code == 201
    [released] = env.events.of_kind(EventKind.API_CLIENT_STEPPED_UP)
    assert released.account_id == admin_id


def _admins(env: PortalEnv) -> list[int]:
    organisation = env.population.organisation_ids[0]
    return [a.id for a in env.auth.accounts.in_organisation(organisation)
            if a.role is Role.ORGANISATION_ADMIN and a.status is AccountStatus.ACTIVE]


def _refusal_notices(env: PortalEnv, account_id: int) -> list[OutboxEntry]:
    return [m for m in env.auth.outbox.for_account(account_id)
            if m.kind is NotificationKind.API_STEP_UP_REFUSED]


def test_a_user_typing_a_right_code_is_told_to_the_admins_once_per_code(
        env: PortalEnv) -> None:
    client = _software(env)
    admins = _admins(env)
    assert admins
    before = {a: len(_refusal_notices(env, a)) for a in admins}
    key, answer = _stepped_up_key(env, client)
    code = _code(answer)
    user, user_id, _, _ = env.signed_in()
    assert _enter(user, code).status_code == 403
    assert _enter(user, code.lower()).status_code == 403  # the same code, typed again
    assert user.form(f"{PAGE}/confirm", user.get(PAGE), {"code": code}).status_code == 403
    assert len(_admin_required_events(env)) == 3
    name = env.auth.accounts.contact(user_id).display_name
    for admin in admins:
        [message] = _refusal_notices(env, admin)[before[admin]:]
        assert message.recipient == env.auth.accounts.contact(admin).email
        assert message.payload == {
            "software": "Logiciel d'officine", "client_id": client[0], "person": name,
            "at": env.clock.now().strftime("%Y-%m-%d %H:%M")}
        mail = render(message, mail_from="rempart@example.org").get_content()
        assert name in mail
        assert client[0] in mail
        assert "Neither the software's vendor nor rempart's operator ever asks" in mail
        assert code not in mail
        assert code.replace("-", "") not in mail
        assert code.replace("-", "") not in repr(message)
        for secret in env.population.alice.secrets():
            assert secret not in mail
    assert not _refusal_notices(env, user_id)  # the plain user is not one of them

    # A new code for the key (the first one expired) is told once more.
    env.clock.advance(601)
    away = env.browser(address=ELSEWHERE)
    key.issue(away)
    second = _code(key.check(away))
    assert second != code
    assert _enter(user, second).status_code == 403
    assert _enter(user, second).status_code == 403
    for admin in admins:
        assert len(_refusal_notices(env, admin)) == before[admin] + 2


def test_an_unknown_or_expired_code_tells_no_one(env: PortalEnv) -> None:
    client = _software(env)
    admins = _admins(env)
    outbox = {a: len(env.auth.outbox.for_account(a)) for a in admins}
    told = {a: len(_refusal_notices(env, a)) for a in admins}
    key, answer = _stepped_up_key(env, client)
    code = _code(answer)
    user, _, _, _ = env.signed_in()
    assert _enter(user, "BBBB-BBBB").status_code == 400
    env.clock.advance(601)
    assert _enter(user, code).status_code == 400
    for admin in admins:
        assert len(env.auth.outbox.for_account(admin)) == outbox[admin]
    # The key's next code, typed by the same user, is told: the check above is real.
    away = env.browser(address=ELSEWHERE)
    key.issue(away)
    assert _enter(user, _code(key.check(away))).status_code == 403
    for admin in admins:
        assert len(_refusal_notices(env, admin)) == told[admin] + 1


def test_where_an_admin_chose_users_any_user_confirms(env: PortalEnv) -> None:
    key, answer = _stepped_up_key(env, _software(env))
    code = _code(answer)
    admin, admin_id, _, _ = env.signed_in(role=ADMIN)
    page = admin.get("/portal/admin")
    assert '<option value="admins" selected>' in page.text
    chosen = _choose(admin, "users")
    assert chosen.status_code == 303
    assert chosen.headers["location"] == "/portal/admin?notice=approvers_saved"
    assert '<option value="users" selected>' in admin.get("/portal/admin").text
    assert _approvers(env) is Approvers.USERS
    assert _approvers(env, which=1) is Approvers.ADMINS  # another organisation unchanged
    [event] = env.events.of_kind(EventKind.API_STEP_UP_POLICY_CHANGED)
    assert (event.account_id, event.organisation_id, event.reason, event.details) == (
        admin_id, env.population.organisation_ids[0], "users", {"previous": "admins"})
    assert event.session_id is not None
    assert _choose(admin, "users").status_code == 303  # unchanged: nothing recorded
    assert len(env.events.of_kind(EventKind.API_STEP_UP_POLICY_CHANGED)) == 1

    user, user_id, _, _ = env.signed_in()
    assert 'id="asu-admins-only"' not in user.get(PAGE).text
    assert _confirm(user, code).status_code == 303
    assert key.check(env.browser(address=ELSEWHERE)).status_code == 201
    [released] = env.events.of_kind(EventKind.API_CLIENT_STEPPED_UP)
    assert released.account_id == user_id
    assert not _admin_required_events(env)

    # And back: admins only again.
    assert _choose(admin, "admins").status_code == 303
    assert _approvers(env) is Approvers.ADMINS
    back = env.events.of_kind(EventKind.API_STEP_UP_POLICY_CHANGED)[-1]
    assert (back.reason, back.details) == ("admins", {"previous": "users"})


def test_only_an_admin_of_that_organisation_changes_it(env: PortalEnv) -> None:
    organisation = env.population.organisation_ids[0]
    admin, _, _, _ = env.signed_in(role=ADMIN)
    user, _, _, _ = env.signed_in()
    outsider, outsider_id, _, _ = env.signed_in(role=ADMIN, which=1)
    # A plain user of the organisation, with its own valid CSRF token.
    page = user.get("/portal/admin")
    assert page.status_code == 403
    token = csrf_of(user.get(PAGE))
    assert user.post(POLICY, data={"approvers": "users", "csrf_token": token}
                     ).status_code == 403
    # The organisation's admin without the form's CSRF token.
    assert admin.post(POLICY, data={"approvers": "users"}).status_code == 403
    # A value that is not a choice.
    bad = _choose(admin, "everyone")
    assert bad.status_code == 400
    assert "id=\"page-error\"" in bad.text
    # Another organisation's admin changes its own organisation, never this one.
    assert _choose(outsider, "users").status_code == 303
    assert _approvers(env, which=1) is Approvers.USERS
    assert _approvers(env) is Approvers.ADMINS
    [event] = env.events.of_kind(EventKind.API_STEP_UP_POLICY_CHANGED)
    assert (event.account_id, event.organisation_id) == (
        outsider_id, env.population.organisation_ids[1])
    # Nor can it (or an operator) through the service, naming this organisation.
    operator_id, _ = env.account(role=Role.OPERATOR_ADMIN)
    for actor_id in (outsider_id, operator_id):
        with pytest.raises(NotPermitted):
            env.auth.api_step_up_policies.set(actor=env.auth.accounts.get(actor_id).actor,
                                              organisation_id=organisation,
                                              approvers="users")
    assert _approvers(env) is Approvers.ADMINS
    assert len(env.events.of_kind(EventKind.API_STEP_UP_POLICY_CHANGED)) == 1


def test_an_admin_whose_second_factor_is_old_is_sent_to_give_one(env: PortalEnv) -> None:
    admin, _, _, _ = env.signed_in(role=ADMIN)
    page = admin.get("/portal/admin")
    env.clock.advance(env.auth.settings.recent_auth_seconds + 60)
    sent = admin.form(POLICY, page, {"approvers": "users"})
    assert sent.status_code == 303
    assert sent.headers["location"] == "/portal/second-factor?next=/portal/admin"
    assert _approvers(env) is Approvers.ADMINS
    assert not env.events.of_kind(EventKind.API_STEP_UP_POLICY_CHANGED)


def test_a_change_is_an_audit_entry(env: PortalEnv) -> None:
    admin_id, _ = env.account(role=ADMIN, which=1)
    organisation = env.population.organisation_ids[1]
    runtime = env.runtime
    with AuditLog(engine=runtime.engine, clock=runtime.clock) as audit:
        policies = ApiStepUpPolicies(engine=runtime.engine, clock=runtime.clock,
                                     events=AuditSecurityEventSink(audit=audit))
        policies.set(actor=env.auth.accounts.get(admin_id).actor,
                     organisation_id=organisation, approvers="users", session_id=7,
                     address="203.0.113.7")
    with runtime.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT account_id, organisation_id, session_id, client_address, detail "
            "FROM audit_entries WHERE event = 'auth.api_step_up_policy_changed'")).all()
    [(account_id, organisation_id, session_id, address, detail)] = rows
    assert (account_id, organisation_id, session_id, address) == (
        admin_id, organisation, "portal:7", "203.0.113.7")
    assert orjson.loads(detail) == {"reason": "users", "previous": "admins"}
