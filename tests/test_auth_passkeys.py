"""Passkeys: real WebAuthn ceremonies from a software authenticator, and forged ones."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from auth_support import (
    BACKENDS,
    PASSWORD,
    AuthEnv,
    SoftAuthenticator,
    b64url,
    fresh,
    shared_env,
    unb64url,
)
from rempart.auth.access import require_personal_data_access
from rempart.auth.client import ClientInfo
from rempart.auth.errors import (
    InvalidInput,
    InvalidSecondFactor,
    PasskeyRequired,
    SecondFactorRequired,
    SessionInvalid,
)
from rempart.auth.events import EventKind
from rempart.auth.models import Passkey
from rempart.auth.roles import Role
from rempart.auth.session_store import SessionLevel
from rempart.auth.sessions import IssuedSession


@pytest.fixture(scope="module", params=BACKENDS)
def module_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthEnv]:
    yield from shared_env(request, tmp_path_factory)


@pytest.fixture
def env(module_env: AuthEnv) -> AuthEnv:
    return fresh(module_env)


def first_login_with_passkey(env: AuthEnv, authenticator: SoftAuthenticator,
                             role: Role = Role.PROVIDER_USER) -> tuple[int, str, IssuedSession]:
    account_id, email = env.account(role=role)
    pending = env.auth.login.password_login(login=email, password=PASSWORD, client=env.client())
    client = env.client(device=pending.session.device_token)
    ceremony = env.auth.enrolment.begin_passkey(session_token=pending.session.token,
                                                client=client)
    result = env.auth.enrolment.finish_passkey(
        session_token=pending.session.token, client=client, ceremony_id=ceremony.ceremony_id,
        credential=authenticator.create(ceremony.options_json), label="Clé du comptoir")
    if result.session is None:
        raise AssertionError("a first enrolment completes the login")
    return account_id, email, result.session


def stored_sign_count(env: AuthEnv, account_id: int) -> int:
    with env.runtime.engine.connect() as conn:
        return int(conn.scalar(select(Passkey.sign_count)
                               .where(Passkey.account_id == account_id)) or 0)


@pytest.mark.parametrize("attestation", ["none", "packed"])
def test_enrolment_at_first_login_with_none_or_packed_attestation(
        env: AuthEnv, attestation: str) -> None:
    authenticator = SoftAuthenticator(attestation=attestation)
    account_id, _, session = first_login_with_passkey(env, authenticator)
    assert session.view.level is SessionLevel.FULL
    assert session.view.method == "passkey"
    [info] = env.auth.passkeys.for_account(account_id)
    assert info.label == "Clé du comptoir"
    assert env.auth.second_factor.methods(account_id)[0] == "passkey"


def test_registration_options_name_the_relying_party_and_exclude_known_keys(
        env: AuthEnv) -> None:
    authenticator = SoftAuthenticator()
    account_id, _, session = first_login_with_passkey(env, authenticator)
    client = env.client(device=session.device_token)
    ceremony = env.auth.enrolment.begin_passkey(session_token=session.token, client=client)
    options = json.loads(ceremony.options_json)
    assert options["rp"] == {"id": "localhost", "name": "rempart"}
    assert [c["id"] for c in options["excludeCredentials"]] == [
        b64url(authenticator.credential_id)]
    assert unb64url(options["user"]["id"]) == bytes.fromhex(
        env.auth.accounts.get(account_id).public_id)
    assert "@" not in options["user"]["id"]


def test_passkey_login_without_password_opens_a_full_session(env: AuthEnv) -> None:
    authenticator = SoftAuthenticator()
    account_id, _, _ = first_login_with_passkey(env, authenticator)
    ceremony = env.auth.login.begin_passkey_login()
    assert json.loads(ceremony.options_json)["userVerification"] == "required"
    issued = env.auth.login.finish_passkey_login(
        ceremony_id=ceremony.ceremony_id, credential=authenticator.get(ceremony.options_json),
        client=env.client())
    assert issued.view.account.id == account_id
    assert issued.view.level is SessionLevel.FULL
    require_personal_data_access(issued.view)
    assert stored_sign_count(env, account_id) == authenticator.sign_count


def test_a_passkey_login_from_a_new_browser_binds_the_session_to_a_new_device_token(
        env: AuthEnv) -> None:
    authenticator = SoftAuthenticator()
    account_id, _, _ = first_login_with_passkey(env, authenticator)
    known = {d.id for d in env.auth.devices.for_account(account_id)}
    ceremony = env.auth.login.begin_passkey_login()
    issued = env.auth.login.finish_passkey_login(
        ceremony_id=ceremony.ceremony_id, credential=authenticator.get(ceremony.options_json),
        client=env.client(device=None))  # a browser that never logged in here
    # The login gave the browser its device token, and the session is bound to it...
    assert issued.device_token
    browser = env.client(device=issued.device_token)
    view = env.auth.sessions.authenticate(token=issued.token, client=browser)
    assert view.level is SessionLevel.FULL
    # ...and that token is the device remembered (a new one, so the owner is alerted).
    assert len({d.id for d in env.auth.devices.for_account(account_id)} - known) == 1
    assert env.auth.devices.find(account_id=account_id, device_token=issued.device_token)
    # Without it, the session is refused, as a cookie replayed from another browser is.
    with pytest.raises(SessionInvalid):
        env.auth.sessions.authenticate(token=issued.token, client=env.client(device=None))


def test_passkey_as_second_factor_after_the_password(env: AuthEnv) -> None:
    authenticator = SoftAuthenticator()
    _, email, _ = first_login_with_passkey(env, authenticator)
    env.clock.advance(3600)
    pending = env.auth.login.password_login(login=email, password=PASSWORD, client=env.client())
    assert pending.methods == ["passkey", "recovery"]
    client = env.client(device=pending.session.device_token)
    ceremony = env.auth.second_factor.begin_passkey(session_token=pending.session.token,
                                                    client=client)
    issued = env.auth.second_factor.complete_passkey(
        session_token=pending.session.token, client=client, ceremony_id=ceremony.ceremony_id,
        credential=authenticator.get(ceremony.options_json))
    assert issued.view.level is SessionLevel.FULL


# -- forged and replayed ceremonies --------------------------------------------------------


@pytest.mark.parametrize(("tamper", "reason"), [
    ({"origin": "https://rempart-secure-login.example"}, "wrong origin"),
    ({"rp_id": "rempart-secure-login.example"}, "wrong relying party"),
])
def test_an_assertion_for_another_site_is_refused(env: AuthEnv, tamper: dict[str, str],
                                                  reason: str) -> None:
    """A phishing proxy's page can only get assertions for its own origin / rp id."""
    authenticator = SoftAuthenticator()
    account_id, _, _ = first_login_with_passkey(env, authenticator)
    count = stored_sign_count(env, account_id)
    phished = SoftAuthenticator(key=authenticator.key,
                                credential_id=authenticator.credential_id,
                                sign_count=authenticator.sign_count,
                                user_handle=authenticator.user_handle, **tamper)
    ceremony = env.auth.login.begin_passkey_login()
    with pytest.raises(InvalidSecondFactor) as caught:
        env.auth.login.finish_passkey_login(ceremony_id=ceremony.ceremony_id,
                                            credential=phished.get(ceremony.options_json),
                                            client=env.client())
    assert caught.value.reason == reason
    assert stored_sign_count(env, account_id) == count  # nothing changed
    failed = env.events.of_kind(EventKind.LOGIN_FAILED)
    assert failed[-1].details == {"why": reason}
    assert "rempart-secure-login" not in repr(env.events.events)


@pytest.mark.parametrize(("tamper", "reason"), [
    ({"origin": "https://evil.example"}, "wrong origin"),
    ({"rp_id": "evil.example"}, "wrong relying party"),
])
def test_a_registration_for_another_site_is_refused(env: AuthEnv, tamper: dict[str, str],
                                                    reason: str) -> None:
    account_id, email = env.account()
    pending = env.auth.login.password_login(login=email, password=PASSWORD, client=env.client())
    client = env.client(device=pending.session.device_token)
    ceremony = env.auth.enrolment.begin_passkey(session_token=pending.session.token,
                                                client=client)
    with pytest.raises(InvalidSecondFactor) as caught:
        env.auth.enrolment.finish_passkey(
            session_token=pending.session.token, client=client,
            ceremony_id=ceremony.ceremony_id,
            credential=SoftAuthenticator(**tamper).create(ceremony.options_json), label="x")
    assert caught.value.reason == reason
    assert env.auth.passkeys.for_account(account_id) == []


def test_a_replayed_assertion_is_refused(env: AuthEnv) -> None:
    authenticator = SoftAuthenticator()
    first_login_with_passkey(env, authenticator)
    ceremony = env.auth.login.begin_passkey_login()
    assertion = authenticator.get(ceremony.options_json)
    env.auth.login.finish_passkey_login(ceremony_id=ceremony.ceremony_id, credential=assertion,
                                        client=env.client())
    with pytest.raises(InvalidSecondFactor) as same_ceremony:
        env.auth.login.finish_passkey_login(ceremony_id=ceremony.ceremony_id,
                                            credential=assertion, client=env.client())
    assert same_ceremony.value.reason == "ceremony unknown, used or expired"
    fresh_ceremony = env.auth.login.begin_passkey_login()
    with pytest.raises(InvalidSecondFactor) as other_challenge:
        env.auth.login.finish_passkey_login(ceremony_id=fresh_ceremony.ceremony_id,
                                            credential=assertion, client=env.client())
    assert other_challenge.value.reason == "wrong challenge"


def test_a_cloned_authenticator_is_caught_by_its_signature_counter(env: AuthEnv) -> None:
    authenticator = SoftAuthenticator()
    account_id, _, _ = first_login_with_passkey(env, authenticator)
    clone = SoftAuthenticator(key=authenticator.key, credential_id=authenticator.credential_id,
                              sign_count=authenticator.sign_count)
    ceremony = env.auth.login.begin_passkey_login()
    env.auth.login.finish_passkey_login(ceremony_id=ceremony.ceremony_id,
                                        credential=authenticator.get(ceremony.options_json),
                                        client=env.client())
    ceremony = env.auth.login.begin_passkey_login()
    with pytest.raises(InvalidSecondFactor) as caught:
        env.auth.login.finish_passkey_login(ceremony_id=ceremony.ceremony_id,
                                            credential=clone.get(ceremony.options_json),
                                            client=env.client())
    assert caught.value.reason == "signature counter went back"
    assert stored_sign_count(env, account_id) == authenticator.sign_count


def test_an_expired_ceremony_is_refused(env: AuthEnv) -> None:
    authenticator = SoftAuthenticator()
    first_login_with_passkey(env, authenticator)
    ceremony = env.auth.login.begin_passkey_login()
    env.clock.advance(301)
    with pytest.raises(InvalidSecondFactor) as caught:
        env.auth.login.finish_passkey_login(ceremony_id=ceremony.ceremony_id,
                                            credential=authenticator.get(ceremony.options_json),
                                            client=env.client())
    assert caught.value.reason == "ceremony unknown, used or expired"


def test_a_forged_signature_is_refused(env: AuthEnv) -> None:
    authenticator = SoftAuthenticator()
    first_login_with_passkey(env, authenticator)
    impostor = SoftAuthenticator(credential_id=authenticator.credential_id,
                                 sign_count=authenticator.sign_count + 5)
    ceremony = env.auth.login.begin_passkey_login()
    with pytest.raises(InvalidSecondFactor) as caught:
        env.auth.login.finish_passkey_login(ceremony_id=ceremony.ceremony_id,
                                            credential=impostor.get(ceremony.options_json),
                                            client=env.client())
    assert caught.value.reason == "bad signature"


def test_usernameless_login_requires_user_verification(env: AuthEnv) -> None:
    authenticator = SoftAuthenticator()
    first_login_with_passkey(env, authenticator)
    authenticator.user_verified = False
    ceremony = env.auth.login.begin_passkey_login()
    with pytest.raises(InvalidSecondFactor) as caught:
        env.auth.login.finish_passkey_login(ceremony_id=ceremony.ceremony_id,
                                            credential=authenticator.get(ceremony.options_json),
                                            client=env.client())
    assert caught.value.reason == "user not verified"


def test_another_accounts_passkey_is_no_second_factor_here(env: AuthEnv) -> None:
    mine = SoftAuthenticator()
    _, email, _ = first_login_with_passkey(env, mine)
    theirs = SoftAuthenticator()
    first_login_with_passkey(env, theirs)
    env.clock.advance(3600)
    pending = env.auth.login.password_login(login=email, password=PASSWORD, client=env.client())
    client = env.client(device=pending.session.device_token)
    ceremony = env.auth.second_factor.begin_passkey(session_token=pending.session.token,
                                                    client=client)
    with pytest.raises(InvalidSecondFactor) as caught:
        env.auth.second_factor.complete_passkey(
            session_token=pending.session.token, client=client,
            ceremony_id=ceremony.ceremony_id, credential=theirs.get(ceremony.options_json))
    assert caught.value.reason == "unknown passkey"
    view = env.auth.sessions.authenticate(token=pending.session.token, client=client)
    with pytest.raises(SecondFactorRequired):
        require_personal_data_access(view)


@pytest.mark.parametrize("credential", ["{not json", "[1, 2]", "x" * 70_000])
def test_malformed_credentials_are_refused_by_field(env: AuthEnv, credential: str) -> None:
    ceremony = env.auth.login.begin_passkey_login()
    with pytest.raises(InvalidInput) as caught:
        env.auth.login.finish_passkey_login(ceremony_id=ceremony.ceremony_id,
                                            credential=credential, client=env.client())
    assert caught.value.field == "credential"


def test_a_structurally_wrong_credential_is_refused_cleanly(env: AuthEnv) -> None:
    ceremony = env.auth.login.begin_passkey_login()
    with pytest.raises((InvalidSecondFactor, InvalidInput)):
        env.auth.login.finish_passkey_login(
            ceremony_id=ceremony.ceremony_id,
            credential={"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {}},
            client=env.client())


# -- operators ------------------------------------------------------------------------------


def test_an_operator_reaches_data_only_through_a_passkey(env: AuthEnv) -> None:
    authenticator = SoftAuthenticator()
    account_id, email, session = first_login_with_passkey(env, authenticator,
                                                          role=Role.OPERATOR_ADMIN)
    require_personal_data_access(session.view)
    assert env.auth.recovery.remaining(account_id) == 0  # operators get no recovery codes
    env.clock.advance(3600)
    pending = env.auth.login.password_login(login=email, password=PASSWORD, client=env.client())
    assert pending.methods == ["passkey"]
    with pytest.raises(SecondFactorRequired):
        require_personal_data_access(pending.session.view)


def test_operator_rule_holds_even_for_a_full_session_from_another_method(env: AuthEnv) -> None:
    """A FULL operator session whose factor was not a passkey reaches no data."""
    authenticator = SoftAuthenticator()
    _, _, session = first_login_with_passkey(env, authenticator, role=Role.OPERATOR_ADMIN)
    client = ClientInfo(address="192.0.2.10", user_agent=session.view.label,
                        device_token=session.device_token)
    renewed = env.auth.sessions.renew(session=session.view, client=client,
                                      level=SessionLevel.FULL, method="totp")
    with pytest.raises(PasskeyRequired):
        require_personal_data_access(renewed.view)
