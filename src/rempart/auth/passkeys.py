"""Passkeys (WebAuthn, via py_webauthn): registration and authentication ceremonies.

Challenges are kept server-side (rempart.auth.challenges) and used once. The relying
party id and accepted origins come from `AuthSettings`, so an assertion made for
another site (a phishing proxy's origin) never verifies. The signature counter must
increase when an authenticator keeps one, which exposes a cloned authenticator.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from rempart.auth.challenges import ChallengeStore
from rempart.auth.config import AuthSettings
from rempart.auth.errors import InvalidInput, InvalidSecondFactor, NotFound
from rempart.auth.models import Passkey
from rempart.clock import Clock

REGISTER = "register"
AUTHENTICATE = "authenticate"
MAX_CREDENTIAL_JSON = 64 * 1024
MAX_LABEL = 100

# Library messages quote client-supplied values; map them to fixed reason codes.
_REASONS = (("origin", "wrong origin"), ("RP ID", "wrong relying party"),
            ("challenge", "wrong challenge"), ("sign count", "signature counter went back"),
            ("signature", "bad signature"), ("User verification", "user not verified"),
            ("User presence", "user not present"), ("User was not present", "user not present"))


@dataclass(frozen=True, slots=True)
class Ceremony:
    ceremony_id: str  # opaque, sent back with the browser's answer
    options_json: str  # for navigator.credentials.create() / get()


@dataclass(frozen=True, slots=True)
class PasskeyInfo:
    id: int
    label: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    backed_up: bool


def _info(row: Passkey) -> PasskeyInfo:
    return PasskeyInfo(id=row.id, label=row.label, created_at=row.created_at,
                       last_used_at=row.last_used_at, backed_up=row.backed_up)


def _reason(exc: Exception) -> str:
    text = str(exc)
    return next((code for marker, code in _REASONS if marker in text), "not valid")


def _parse(credential: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(credential, str):
        if len(credential) > MAX_CREDENTIAL_JSON:
            raise InvalidInput("credential", "too large")
        try:
            credential = json.loads(credential)
        except ValueError:
            raise InvalidInput("credential", "not JSON") from None
    if not isinstance(credential, dict):
        raise InvalidInput("credential", "not a JSON object")
    return credential


class PasskeyService:
    def __init__(self, *, engine: Engine, clock: Clock, settings: AuthSettings,
                 challenges: ChallengeStore) -> None:
        self._engine = engine
        self._clock = clock
        self._settings = settings
        self._challenges = challenges

    # -- registration ----------------------------------------------------------------

    def begin_registration(self, *, account_id: int, user_handle: bytes, user_name: str,
                           display_name: str) -> Ceremony:
        existing = [PublicKeyCredentialDescriptor(id=c) for c in self._credential_ids(account_id)]
        ceremony_id, challenge = self._challenges.create(purpose=REGISTER,
                                                         account_id=account_id)
        options = generate_registration_options(
            rp_id=self._settings.rp_id, rp_name=self._settings.rp_name, user_id=user_handle,
            user_name=user_name, user_display_name=display_name, challenge=challenge,
            timeout=self._settings.webauthn_challenge_seconds * 1000,
            exclude_credentials=existing,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.PREFERRED),
        )
        return Ceremony(ceremony_id=ceremony_id, options_json=options_to_json(options))

    def finish_registration(self, *, account_id: int, ceremony_id: str,
                            credential: str | dict[str, Any], label: str) -> PasskeyInfo:
        label = label.strip() or "passkey"
        if len(label) > MAX_LABEL or any(ord(c) < 32 for c in label):
            raise InvalidInput("label", f"at most {MAX_LABEL} printable characters")
        payload = _parse(credential)
        pending = self._challenges.take(ceremony_id=ceremony_id, purpose=REGISTER)
        if pending is None or pending.account_id != account_id:
            raise InvalidSecondFactor("passkey", "ceremony unknown, used or expired")
        try:
            verified = verify_registration_response(
                credential=payload, expected_challenge=pending.challenge,
                expected_rp_id=self._settings.rp_id, expected_origin=list(self._settings.origins),
            )
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            raise InvalidSecondFactor("passkey", _reason(exc)) from None
        row = Passkey(account_id=account_id, credential_id=verified.credential_id,
                      public_key=verified.credential_public_key,
                      sign_count=verified.sign_count, aaguid=verified.aaguid,
                      backed_up=verified.credential_backed_up, label=label,
                      created_at=self._clock.now())
        try:
            with DbSession(self._engine) as db, db.begin():
                db.add(row)
                db.flush()
                return _info(row)
        except IntegrityError:
            raise InvalidSecondFactor("passkey", "already registered") from None

    # -- authentication --------------------------------------------------------------

    def begin_authentication(self, *, account_id: int | None) -> Ceremony:
        """For a known account (second factor) or none (passkey login, discoverable)."""
        allowed = ([PublicKeyCredentialDescriptor(id=c) for c in self._credential_ids(account_id)]
                   if account_id is not None else [])
        ceremony_id, challenge = self._challenges.create(purpose=AUTHENTICATE,
                                                         account_id=account_id)
        options = generate_authentication_options(
            rp_id=self._settings.rp_id, challenge=challenge, allow_credentials=allowed,
            timeout=self._settings.webauthn_challenge_seconds * 1000,
            user_verification=(UserVerificationRequirement.PREFERRED if account_id is not None
                               else UserVerificationRequirement.REQUIRED),
        )
        return Ceremony(ceremony_id=ceremony_id, options_json=options_to_json(options))

    def finish_authentication(self, *, ceremony_id: str,
                              credential: str | dict[str, Any]) -> int:
        """Verify an assertion; return the account it proves. Without a password first,
        user verification (PIN, biometrics) is required, making the passkey two factors."""
        payload = _parse(credential)
        pending = self._challenges.take(ceremony_id=ceremony_id, purpose=AUTHENTICATE)
        if pending is None:
            raise InvalidSecondFactor("passkey", "ceremony unknown, used or expired")
        try:
            raw_id = base64url_to_bytes(str(payload.get("rawId", "")))
        except ValueError:
            raise InvalidInput("credential", "malformed rawId") from None
        with DbSession(self._engine) as db, db.begin():
            row = db.scalar(select(Passkey).where(Passkey.credential_id == raw_id)
                            .with_for_update())
            if row is None or (pending.account_id is not None
                               and row.account_id != pending.account_id):
                raise InvalidSecondFactor("passkey", "unknown passkey")
            try:
                verified = verify_authentication_response(
                    credential=payload, expected_challenge=pending.challenge,
                    expected_rp_id=self._settings.rp_id,
                    expected_origin=list(self._settings.origins),
                    credential_public_key=row.public_key,
                    credential_current_sign_count=row.sign_count,
                    require_user_verification=pending.account_id is None,
                )
            except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
                raise InvalidSecondFactor("passkey", _reason(exc)) from None
            row.sign_count = verified.new_sign_count
            row.backed_up = verified.credential_backed_up
            row.last_used_at = self._clock.now()
            return row.account_id

    # -- management --------------------------------------------------------------------

    def for_account(self, account_id: int) -> list[PasskeyInfo]:
        with DbSession(self._engine) as db:
            rows = db.scalars(select(Passkey).where(Passkey.account_id == account_id)
                              .order_by(Passkey.id))
            return [_info(r) for r in rows]

    def count(self, account_id: int) -> int:
        with DbSession(self._engine) as db:
            return db.scalar(select(func.count()).select_from(Passkey)
                             .where(Passkey.account_id == account_id)) or 0

    def remove(self, *, account_id: int, passkey_id: int) -> None:
        with DbSession(self._engine) as db, db.begin():
            row = db.get(Passkey, passkey_id)
            if row is None or row.account_id != account_id:
                raise NotFound("passkey")
            db.delete(row)

    def _credential_ids(self, account_id: int | None) -> list[bytes]:
        with DbSession(self._engine) as db:
            return list(db.scalars(select(Passkey.credential_id)
                                   .where(Passkey.account_id == account_id)))
