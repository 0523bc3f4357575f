"""Accounts, roles and invitations: single use, expiry, scope, and sealed contact data."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import func, inspect, select

from auth_support import BACKENDS, PASSWORD, AuthEnv, fresh, shared_env
from rempart.auth import models
from rempart.auth.errors import (
    AccountConflict,
    AccountSuspended,
    InvalidCredentials,
    InvalidInput,
    InvitationInvalid,
    NotPermitted,
    SessionInvalid,
    WeakPassword,
)
from rempart.auth.events import EventKind
from rempart.auth.outbox import NotificationKind
from rempart.auth.roles import Actor, Role, can_invite, can_manage_account
from rempart.auth.tokens import ContactFields
from rempart.storage.migrate import MIGRATIONS

AUTH_TABLES = {"accounts", "invitations", "totp_credentials", "recovery_codes", "passkeys",
               "webauthn_challenges", "known_devices", "login_sessions",
               "notification_outbox", "api_clients", "token_signing_keys",
               "dpop_proof_replays"}
# Auth tables added by later revisions, each by the one named.
LATER_AUTH_TABLES = {"api_step_up_codes": "0010_api_step_up_codes.py",
                     "api_step_up_policies": "0013_api_step_up_policies.py"}


@pytest.fixture(scope="module", params=BACKENDS)
def module_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthEnv]:
    yield from shared_env(request, tmp_path_factory)


@pytest.fixture
def env(module_env: AuthEnv) -> AuthEnv:
    return fresh(module_env)


def admin_of(env: AuthEnv, org: int | None = None) -> Actor:
    account_id, _ = env.account(role=Role.ORGANISATION_ADMIN, org=org or env.org_id)
    return env.auth.accounts.get(account_id).actor


def invitation_rows(env: AuthEnv) -> int:
    with env.runtime.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(models.Invitation)) or 0


# -- pure rules ---------------------------------------------------------------------


def test_who_may_invite_whom() -> None:
    org_admin = Actor(1, Role.ORGANISATION_ADMIN, 10)
    user = Actor(2, Role.PROVIDER_USER, 10)
    operator_admin = Actor(3, Role.OPERATOR_ADMIN, None)
    analyst = Actor(4, Role.OPERATOR_SECURITY_ANALYST, None)
    assert can_invite(org_admin, role=Role.PROVIDER_USER, organisation_id=10)
    assert can_invite(org_admin, role=Role.ORGANISATION_ADMIN, organisation_id=10)
    assert not can_invite(org_admin, role=Role.PROVIDER_USER, organisation_id=11)
    assert not can_invite(org_admin, role=Role.OPERATOR_ADMIN, organisation_id=None)
    assert not can_invite(user, role=Role.PROVIDER_USER, organisation_id=10)
    assert not can_invite(analyst, role=Role.PROVIDER_USER, organisation_id=10)
    assert can_invite(operator_admin, role=Role.OPERATOR_SECURITY_ANALYST, organisation_id=None)


def test_who_may_manage_whom() -> None:
    org_admin = Actor(1, Role.ORGANISATION_ADMIN, 10)
    analyst = Actor(4, Role.OPERATOR_SECURITY_ANALYST, None)
    assert can_manage_account(org_admin, role=Role.PROVIDER_USER, organisation_id=10)
    assert not can_manage_account(org_admin, role=Role.PROVIDER_USER, organisation_id=11)
    assert can_manage_account(analyst, role=Role.PROVIDER_USER, organisation_id=11)
    assert not can_manage_account(analyst, role=Role.OPERATOR_ADMIN, organisation_id=None)
    assert not can_manage_account(Actor(2, Role.PROVIDER_USER, 10), role=Role.PROVIDER_USER,
                                  organisation_id=10)


# -- the schema ------------------------------------------------------------------------


def test_migration_0003_creates_exactly_the_auth_tables(env: AuthEnv) -> None:
    tables = set(inspect(env.runtime.engine).get_table_names())
    assert tables >= AUTH_TABLES | set(LATER_AUTH_TABLES)
    model_tables = {m.__tablename__ for m in vars(models).values()
                    if isinstance(m, type) and issubclass(m, models.Base) and m is not models.Base}
    assert model_tables == AUTH_TABLES | set(LATER_AUTH_TABLES)
    assert _created_by("0003_auth.py") == AUTH_TABLES  # the auth tables and nothing else
    for table, revision in LATER_AUTH_TABLES.items():
        assert _created_by(revision) == {table}


def _created_by(revision: str) -> set[str]:
    script = MIGRATIONS / "versions" / revision
    return set(re.findall(r"op\.create_table\(\s*['\"](\w+)['\"]", script.read_text()))


# -- accounts ------------------------------------------------------------------------


def test_contact_data_is_sealed_and_the_login_blind_indexed(env: AuthEnv) -> None:
    account_id, email = env.account(email="claire.martin@pharmacie.example")
    assert env.auth.accounts.contact(account_id).email == email
    with env.runtime.engine.connect() as conn:
        row = conn.execute(select(models.Account.__table__)
                           .where(models.Account.id == account_id)).mappings().one()
    dumped = b"".join(v if isinstance(v, bytes) else str(v).encode() for v in row.values())
    assert b"claire" not in dumped.lower()
    assert b"Testeuse" not in dumped
    assert PASSWORD.encode() not in dumped


def test_a_login_is_unique_whatever_its_case(env: AuthEnv) -> None:
    env.account(email="same@pharmacie.example")
    with pytest.raises(AccountConflict):
        env.account(email="  SAME@Pharmacie.example ")


@pytest.mark.parametrize(("email", "name", "field"), [
    ("not-an-address", "Marie", "email"),
    ("a@b", "Marie", "email"),
    ("x" * 250 + "@pharmacie.example", "Marie", "email"),
    ("ok@pharmacie.example", "", "display_name"),
    ("ok@pharmacie.example", "Marie\x00", "display_name"),
])
def test_malformed_contact_fields_are_refused_by_name(env: AuthEnv, email: str, name: str,
                                                      field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        env.auth.accounts.create_account(contact=ContactFields(email, name),
                                         password=PASSWORD, role=Role.PROVIDER_USER,
                                         organisation_id=env.org_id)
    assert caught.value.field == field
    assert email not in str(caught.value)


def test_provider_accounts_need_an_organisation_and_operators_none(env: AuthEnv) -> None:
    with pytest.raises(InvalidInput):
        env.auth.accounts.create_account(contact=ContactFields("a@pharmacie.example", "A"),
                                         password=PASSWORD, role=Role.PROVIDER_USER,
                                         organisation_id=None)
    with pytest.raises(InvalidInput):
        env.auth.accounts.create_account(contact=ContactFields("b@operator.example", "B"),
                                         password=PASSWORD, role=Role.OPERATOR_ADMIN,
                                         organisation_id=env.org_id)


# -- invitations -------------------------------------------------------------------------


def test_an_organisation_admin_invites_and_the_invitation_works_once(env: AuthEnv) -> None:
    admin = admin_of(env)
    issued = env.auth.invitations.invite(
        actor=admin, contact=ContactFields("new.user@pharmacie.example", "New User"),
        role=Role.PROVIDER_USER, organisation_id=env.org_id,
        professional_id=env.professional_id)
    mail = [m for m in env.auth.outbox.pending(limit=10_000)
            if m.recipient == "new.user@pharmacie.example"]
    assert len(mail) == 1
    assert mail[0].kind is NotificationKind.INVITATION
    assert mail[0].payload["link"].endswith(issued.token)

    account = env.auth.invitations.accept(token=issued.token, password=PASSWORD)
    assert account.role is Role.PROVIDER_USER
    assert account.organisation_id == env.org_id
    assert account.professional_id == env.professional_id
    assert env.auth.login.password_login(login="new.user@pharmacie.example",
                                         password=PASSWORD, client=env.client()).must_enrol

    with pytest.raises(InvitationInvalid):
        env.auth.invitations.accept(token=issued.token, password=PASSWORD + " again")
    refused = env.events.of_kind(EventKind.INVITATION_REFUSED)
    assert [e.reason for e in refused] == ["used"]


def test_an_expired_invitation_is_refused_with_the_same_answer(env: AuthEnv) -> None:
    issued = env.auth.invitations.invite(
        actor=admin_of(env), contact=ContactFields("late@pharmacie.example", "Late"),
        role=Role.PROVIDER_USER, organisation_id=env.org_id)
    env.clock.advance(72 * 3600 + 1)
    with pytest.raises(InvitationInvalid) as expired:
        env.auth.invitations.accept(token=issued.token, password=PASSWORD)
    with pytest.raises(InvitationInvalid) as unknown:
        env.auth.invitations.accept(token="forged-" + issued.token[7:], password=PASSWORD)
    assert str(expired.value) == str(unknown.value)
    assert [e.reason for e in env.events.of_kind(EventKind.INVITATION_REFUSED)] == [
        "expired", "unknown"]
    assert not env.auth.accounts.login_taken("late@pharmacie.example")


def test_a_weak_password_at_acceptance_changes_nothing(env: AuthEnv) -> None:
    issued = env.auth.invitations.invite(
        actor=admin_of(env), contact=ContactFields("weak@pharmacie.example", "Weak"),
        role=Role.PROVIDER_USER, organisation_id=env.org_id)
    with pytest.raises(WeakPassword):
        env.auth.invitations.accept(token=issued.token, password="password123456")
    assert not env.auth.accounts.login_taken("weak@pharmacie.example")
    # still usable: the refusal did not spend it
    env.auth.invitations.accept(token=issued.token, password=PASSWORD)
    assert env.auth.accounts.login_taken("weak@pharmacie.example")


def test_invitation_scope_is_enforced(env: AuthEnv) -> None:
    admin = admin_of(env)
    user_id, _ = env.account()
    user = env.auth.accounts.get(user_id).actor
    before = invitation_rows(env)
    with pytest.raises(NotPermitted):
        env.auth.invitations.invite(actor=admin, contact=ContactFields("x@p.example", "X"),
                                    role=Role.PROVIDER_USER, organisation_id=env.other_org_id)
    with pytest.raises(NotPermitted):
        env.auth.invitations.invite(actor=admin, contact=ContactFields("y@p.example", "Y"),
                                    role=Role.OPERATOR_ADMIN, organisation_id=None)
    with pytest.raises(NotPermitted):
        env.auth.invitations.invite(actor=user, contact=ContactFields("z@p.example", "Z"),
                                    role=Role.PROVIDER_USER, organisation_id=env.org_id)
    assert invitation_rows(env) == before


def test_inviting_an_existing_login_is_refused(env: AuthEnv) -> None:
    _, email = env.account()
    before = invitation_rows(env)
    with pytest.raises(AccountConflict):
        env.auth.invitations.invite(actor=admin_of(env), contact=ContactFields(email, "Dup"),
                                    role=Role.PROVIDER_USER, organisation_id=env.org_id)
    assert invitation_rows(env) == before


def test_an_operator_admin_invites_an_operator(env: AuthEnv) -> None:
    operator_id, _ = env.account(role=Role.OPERATOR_ADMIN)
    issued = env.auth.invitations.invite(
        actor=env.auth.accounts.get(operator_id).actor,
        contact=ContactFields("analyst@operator.example", "Analyst"),
        role=Role.OPERATOR_SECURITY_ANALYST, organisation_id=None)
    account = env.auth.invitations.accept(token=issued.token, password=PASSWORD)
    assert account.role is Role.OPERATOR_SECURITY_ANALYST
    assert account.organisation_id is None


# -- suspension ------------------------------------------------------------------------------


def test_suspending_an_account_ends_its_sessions_at_once(env: AuthEnv) -> None:
    _, email = env.account()
    session, _, _ = env.with_totp(email)
    client = env.client(device=session.device_token)
    view = env.auth.sessions.authenticate(token=session.token, client=client)
    admin = admin_of(env)

    ended = env.auth.accounts.suspend(actor=admin, account_id=view.account.id,
                                      reason="Credential stuffing suspected")
    assert ended == [view.id]
    with pytest.raises(SessionInvalid):
        env.auth.sessions.authenticate(token=session.token, client=client)
    event = env.events.of_kind(EventKind.ACCOUNT_SUSPENDED)[0]
    assert event.reason == "credentialstuffingsuspected"  # free text reduced to a code
    assert [e.reason for e in env.events.of_kind(EventKind.SESSION_ENDED)] == ["suspended"]


def test_a_suspended_account_cannot_log_in_and_reactivation_restores_it(env: AuthEnv) -> None:
    account_id, email = env.account()
    admin = admin_of(env)
    env.auth.accounts.suspend(actor=admin, account_id=account_id, reason="test")
    with pytest.raises(AccountSuspended):
        env.auth.login.password_login(login=email, password=PASSWORD, client=env.client())
    with pytest.raises(InvalidCredentials):  # wrong password: no hint of the suspension
        env.auth.login.password_login(login=email, password="wrong password!",
                                      client=env.client())
    env.auth.accounts.reactivate(actor=admin, account_id=account_id)
    env.auth.login.password_login(login=email, password=PASSWORD, client=env.client())


def test_an_admin_of_another_organisation_cannot_suspend(env: AuthEnv) -> None:
    account_id, email = env.account()
    with pytest.raises(NotPermitted):
        env.auth.accounts.suspend(actor=admin_of(env, env.other_org_id),
                                  account_id=account_id, reason="x")
    env.auth.login.password_login(login=email, password=PASSWORD, client=env.client())


def test_changing_the_password_checks_the_old_one_and_the_policy(env: AuthEnv) -> None:
    account_id, email = env.account()
    with pytest.raises(InvalidCredentials):
        env.auth.accounts.change_password(account_id=account_id, current="not it at all",
                                          new="a brand new passphrase")
    with pytest.raises(WeakPassword):
        env.auth.accounts.change_password(account_id=account_id, current=PASSWORD,
                                          new="qwerty123456")
    env.auth.accounts.change_password(account_id=account_id, current=PASSWORD,
                                      new="a brand new passphrase")
    env.auth.login.password_login(login=email, password="a brand new passphrase",
                                  client=env.client())
