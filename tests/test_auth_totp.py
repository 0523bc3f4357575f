"""TOTP (each code once, sealed secret), recovery codes, and the operator passkey rule."""

from __future__ import annotations

from collections.abc import Iterator

import pyotp
import pytest
from sqlalchemy import select

from auth_support import BACKENDS, PASSWORD, AuthEnv, fresh, shared_env, totp_now
from rempart.auth.errors import InvalidInput, InvalidSecondFactor, PasskeyRequired
from rempart.auth.events import EventKind
from rempart.auth.models import RecoveryCode, TotpCredential
from rempart.auth.roles import Role
from rempart.auth.session_store import SessionLevel


@pytest.fixture(scope="module", params=BACKENDS)
def module_env(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthEnv]:
    yield from shared_env(request, tmp_path_factory)


@pytest.fixture
def env(module_env: AuthEnv) -> AuthEnv:
    return fresh(module_env)


def enrolled(env: AuthEnv) -> tuple[int, str, list[str]]:
    account_id, email = env.account()
    _, secret, codes = env.with_totp(email)
    return account_id, secret, codes


def test_first_login_enrols_totp_and_completes_the_login(env: AuthEnv) -> None:
    account_id, email = env.account()
    session, secret, codes = env.with_totp(email)
    assert session.view.level is SessionLevel.FULL
    assert session.view.method == "totp"
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert env.auth.totp.has_confirmed(account_id)
    kinds = env.events.kinds()
    assert EventKind.FACTOR_ENROLLED in kinds
    assert kinds[-1] is EventKind.LOGIN_SUCCEEDED
    assert len(secret) == 32


def test_the_secret_is_sealed_at_rest(env: AuthEnv) -> None:
    account_id, secret, _ = enrolled(env)
    with env.runtime.engine.connect() as conn:
        sealed = conn.scalar(select(TotpCredential.sealed)
                             .where(TotpCredential.account_id == account_id))
    assert sealed is not None
    assert secret.encode() not in sealed
    assert pyotp.TOTP(secret).now()  # the secret itself is a valid base32 TOTP key


def test_a_code_is_accepted_once(env: AuthEnv) -> None:
    account_id, secret, _ = enrolled(env)
    code = totp_now(secret, env.clock, offset_steps=1)
    env.auth.totp.verify(account_id=account_id, code=code)
    with pytest.raises(InvalidSecondFactor) as caught:
        env.auth.totp.verify(account_id=account_id, code=code)
    assert caught.value.reason == "code already used"


def test_an_older_code_is_refused_once_a_newer_one_passed(env: AuthEnv) -> None:
    account_id, secret, _ = enrolled(env)
    env.clock.advance(90)
    previous = totp_now(secret, env.clock, offset_steps=-1)
    env.auth.totp.verify(account_id=account_id, code=totp_now(secret, env.clock))
    with pytest.raises(InvalidSecondFactor):
        env.auth.totp.verify(account_id=account_id, code=previous)


def test_one_step_of_drift_is_tolerated_and_more_is_not(env: AuthEnv) -> None:
    account_id, secret, _ = enrolled(env)
    env.clock.advance(300)
    env.auth.totp.verify(account_id=account_id, code=totp_now(secret, env.clock, -1))
    env.clock.advance(300)
    with pytest.raises(InvalidSecondFactor) as caught:
        env.auth.totp.verify(account_id=account_id, code=totp_now(secret, env.clock, -3))
    assert caught.value.reason == "wrong code"
    env.auth.totp.verify(account_id=account_id, code=totp_now(secret, env.clock, 1))


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", "１２３４５６", ""])
def test_malformed_codes_are_refused_by_field(env: AuthEnv, code: str) -> None:
    account_id, _, _ = enrolled(env)
    with pytest.raises(InvalidInput) as caught:
        env.auth.totp.verify(account_id=account_id, code=code)
    assert caught.value.field == "code"


def test_an_unconfirmed_secret_is_not_a_second_factor(env: AuthEnv) -> None:
    account_id, email = env.account()
    enrolment = env.auth.totp.begin_enrolment(account_id=account_id, account_label=email)
    assert enrolment.provisioning_uri.startswith("otpauth://totp/rempart:")
    with pytest.raises(InvalidSecondFactor):
        env.auth.totp.verify(account_id=account_id, code=totp_now(enrolment.secret, env.clock))
    assert not env.auth.totp.has_confirmed(account_id)


def test_a_wrong_code_at_enrolment_changes_nothing(env: AuthEnv) -> None:
    account_id, email = env.account()
    first = env.auth.login.password_login(login=email, password=PASSWORD, client=env.client())
    client = env.client(device=first.session.device_token)
    enrolment = env.auth.enrolment.begin_totp(session_token=first.session.token, client=client)
    right = totp_now(enrolment.secret, env.clock)
    with pytest.raises(InvalidSecondFactor):
        env.auth.enrolment.confirm_totp(session_token=first.session.token, client=client,
                                        code=f"{(int(right) + 1) % 1_000_000:06d}")
    assert not env.auth.totp.has_confirmed(account_id)
    assert env.auth.recovery.remaining(account_id) == 0
    view = env.auth.sessions.authenticate(token=first.session.token, client=client)
    assert view.level is SessionLevel.PASSWORD


# -- recovery codes --------------------------------------------------------------------


def test_recovery_codes_are_single_use_and_stored_hashed(env: AuthEnv) -> None:
    account_id, _, codes = enrolled(env)
    with env.runtime.engine.connect() as conn:
        stored = list(conn.scalars(select(RecoveryCode.code_hash)
                                   .where(RecoveryCode.account_id == account_id)))
    assert len(stored) == 10
    assert not any(c.replace("-", "").encode() in h for c in codes for h in stored)

    env.auth.recovery.use(account_id=account_id, code=codes[0].lower().replace("-", " "))
    with pytest.raises(InvalidSecondFactor):
        env.auth.recovery.use(account_id=account_id, code=codes[0])
    assert env.auth.recovery.remaining(account_id) == 9


def test_a_recovery_code_completes_a_login(env: AuthEnv) -> None:
    _, email = env.account()
    _, _, codes = env.with_totp(email)
    env.clock.advance(3600)
    pending = env.auth.login.password_login(login=email, password=PASSWORD,
                                            client=env.client())
    assert pending.methods == ["totp", "recovery"]
    client = env.client(device=pending.session.device_token)
    issued = env.auth.second_factor.complete_recovery(session_token=pending.session.token,
                                                      client=client, code=codes[3])
    assert issued.view.level is SessionLevel.FULL
    assert issued.view.method == "recovery"


def test_another_accounts_recovery_code_is_refused(env: AuthEnv) -> None:
    _, _, codes = enrolled(env)
    other_id, _, _ = enrolled(env)
    with pytest.raises(InvalidSecondFactor):
        env.auth.recovery.use(account_id=other_id, code=codes[0])


def test_regenerating_recovery_codes_voids_the_old_set(env: AuthEnv) -> None:
    account_id, email = env.account()
    session, _, old = env.with_totp(email)
    client = env.client(device=session.device_token)
    new = env.auth.enrolment.regenerate_recovery_codes(session_token=session.token,
                                                       client=client)
    assert set(new).isdisjoint(old)
    with pytest.raises(InvalidSecondFactor):
        env.auth.recovery.use(account_id=account_id, code=old[0])
    env.auth.recovery.use(account_id=account_id, code=new[0])


# -- operators -----------------------------------------------------------------------------


def test_operators_cannot_enrol_or_use_totp(env: AuthEnv) -> None:
    _, email = env.account(role=Role.OPERATOR_SECURITY_ANALYST)
    pending = env.auth.login.password_login(login=email, password=PASSWORD, client=env.client())
    assert pending.must_enrol
    client = env.client(device=pending.session.device_token)
    with pytest.raises(PasskeyRequired):
        env.auth.enrolment.begin_totp(session_token=pending.session.token, client=client)
    with pytest.raises(PasskeyRequired):
        env.auth.second_factor.complete_totp(session_token=pending.session.token,
                                             client=client, code="123456")
    with pytest.raises(PasskeyRequired):
        env.auth.second_factor.complete_recovery(session_token=pending.session.token,
                                                 client=client, code="ABCD-EFGH-JKLM-NPQR")
