"""TOTP second factor (RFC 6238, via pyotp): enrolment and verification, each code once.

pyotp alone accepts the same code again within its window, which lets a phishing
proxy reuse a code; so the last accepted time step is stored and any code for that
step or an earlier one is refused. The shared secret is sealed by the vault.
That rule holds across a wall clock set back: a used code stays refused (the steps
the clock reads again are all at or before the last one), and the refusal is logged.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import pyotp
from sqlalchemy import Engine, or_, select, update
from sqlalchemy.orm import Session as DbSession

from rempart.auth import clock_skew
from rempart.auth.config import AuthSettings
from rempart.auth.errors import InvalidInput, InvalidSecondFactor
from rempart.auth.models import TotpCredential
from rempart.clock import Clock
from rempart.vault import Vault

TOTP_KIND = b"totp"
ISSUER = "rempart"
DIGITS = 6
PERIOD = 30


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    secret: str  # base32, for manual entry
    provisioning_uri: str  # otpauth:// URI, for a QR code


def _row_token(account_id: int) -> bytes:
    return f"totp:{account_id}".encode()


def clean_code(code: str) -> str:
    digits = code.replace(" ", "").strip()
    if len(digits) != DIGITS or not digits.isascii() or not digits.isdigit():
        raise InvalidInput("code", f"{DIGITS} digits expected")
    return digits


class TotpService:
    def __init__(self, *, engine: Engine, vault: Vault, clock: Clock,
                 settings: AuthSettings) -> None:
        self._engine = engine
        self._vault = vault
        self._clock = clock
        self._window = settings.totp_valid_window

    def has_confirmed(self, account_id: int) -> bool:
        with DbSession(self._engine) as db:
            return db.scalar(select(TotpCredential.id).where(
                TotpCredential.account_id == account_id,
                TotpCredential.confirmed_at.is_not(None))) is not None

    def begin_enrolment(self, *, account_id: int, account_label: str) -> TotpEnrolment:
        """A new secret, unconfirmed until a first code is verified; replaces any other."""
        secret = pyotp.random_base32(length=32)  # 160 bits, as RFC 4226 recommends
        sealed = self._vault.seal([secret], kind=TOTP_KIND, row_token=_row_token(account_id))
        with DbSession(self._engine) as db, db.begin():
            row = db.scalar(select(TotpCredential).where(
                TotpCredential.account_id == account_id))
            if row is None:
                row = TotpCredential(account_id=account_id)
                db.add(row)
            row.key_version = self._vault.current_version
            row.sealed = sealed
            row.last_step = None
            row.created_at = self._clock.now()
            row.confirmed_at = None
        uri = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(
            name=account_label, issuer_name=ISSUER)
        return TotpEnrolment(secret=secret, provisioning_uri=uri)

    def confirm_enrolment(self, *, account_id: int, code: str) -> None:
        self._accept(account_id, code, confirming=True)

    def verify(self, *, account_id: int, code: str) -> None:
        """Accept a code once, or raise InvalidSecondFactor (wrong, replayed, no TOTP)."""
        self._accept(account_id, code, confirming=False)

    def remove(self, *, account_id: int) -> None:
        with DbSession(self._engine) as db, db.begin():
            row = db.scalar(select(TotpCredential).where(
                TotpCredential.account_id == account_id))
            if row is not None:
                db.delete(row)

    def _accept(self, account_id: int, code: str, *, confirming: bool) -> None:
        digits = clean_code(code)
        with DbSession(self._engine) as db, db.begin():
            row = db.scalar(select(TotpCredential)
                            .where(TotpCredential.account_id == account_id)
                            .with_for_update())
            if row is None or (row.confirmed_at is None) != confirming:
                raise InvalidSecondFactor("totp", "no TOTP enrolled")
            secret = self._vault.open(row.sealed, version=row.key_version, kind=TOTP_KIND,
                                      row_token=_row_token(account_id))[0]
            step = self._matching_step(secret, digits)
            if step is None:
                raise InvalidSecondFactor("totp", "wrong code")
            last = row.last_step if row.last_step is not None else -1
            if step <= last:
                if last > self._current_step() + self._window:
                    # The last code accepted is ahead of the clock: it went back since.
                    clock_skew.refused_ahead(
                        "totp_step", ahead_s=(last - self._current_step()) * PERIOD)
                raise InvalidSecondFactor("totp", "code already used")
            # Conditional on the last step, so two concurrent uses cannot both pass.
            result = db.execute(
                update(TotpCredential)
                .where(TotpCredential.id == row.id,
                       or_(TotpCredential.last_step.is_(None),
                           TotpCredential.last_step < step))
                .values(last_step=step,
                        confirmed_at=row.confirmed_at or self._clock.now())
                .execution_options(synchronize_session=False)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise InvalidSecondFactor("totp", "code already used")

    def _current_step(self) -> int:
        return int(self._clock.now().timestamp()) // PERIOD

    def _matching_step(self, secret: str, digits: str) -> int | None:
        totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
        current = self._current_step()
        # Newest first: with clock drift, the latest matching step is the one to record.
        for step in range(current + self._window, current - self._window - 1, -1):
            if hmac.compare_digest(totp.generate_otp(step), digits):
                return step
        return None
