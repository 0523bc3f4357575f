"""Answering the guard's step-up of an API key: a short code a person confirms.

Practice software cannot show a passkey prompt. When the exfiltration guard asks one of
its DPoP keys for a fresh second factor, the 401 carries a `user_code` (RFC 8628's
device authorisation, RFC 9470's step-up): someone of the client's organisation types
it on the portal, with a fresh second factor, and the guard releases that key alone.

- A code is 8 letters from an alphabet without vowels or look-alikes (20^8, about 35
  bits), bound to one client and one key, valid `lifetime` seconds, single use. While
  it is pending the key is given the same code again, so a client that retries does not
  flood anyone with codes.
- Codes live in the database (one row per client and key): the step-up is answered by
  whichever worker served the check and confirmed by whichever served the portal, on
  SQLite as on PostgreSQL, like the WebAuthn challenges and invitations; they are rare
  (one per step-up) and short-lived, so the write costs nothing on the check path.
  A copy of the database shows no code: it is found through a keyed blind index and
  kept sealed by the vault (to be shown again while pending).
- Guessing is throttled by the caller (the portal, per account and per address).
- A code made after the clock's reading (the wall clock went back since) counts as
  expired, so a jump back never lengthens its life (`rempart.auth.clock_skew`).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession

from rempart.auth import clock_skew
from rempart.auth.models import ApiClient, ApiStepUpCode
from rempart.clock import Clock
from rempart.vault import Vault

ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
CODE_LENGTH = 8
LIFETIME_SECONDS = 600
KEPT_AFTER_EXPIRY = dt.timedelta(days=1)
_PURPOSE = b"api-step-up"


@dataclass(frozen=True, slots=True)
class StepUpChallenge:
    """What the API's 401 tells the practice software to show its user."""

    user_code: str  # displayed as two groups of four: BCDF-GHJK
    expires_at: dt.datetime
    expires_in: int


@dataclass(frozen=True, slots=True)
class PendingStepUp:
    """A pending code found for an organisation: which client it would release."""

    id: int
    client_id: str
    client_name: str
    key_thumbprint: str
    organisation_id: int
    expires_at: dt.datetime


def normalise(code: str) -> str | None:
    """The code as stored (upper case, no spaces or dashes), None if it cannot be one."""
    cleaned = code.upper().replace("-", "").replace(" ", "")
    if len(cleaned) != CODE_LENGTH or any(c not in ALPHABET for c in cleaned):
        return None
    return cleaned


def displayed(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


class ApiStepUpCodes:
    def __init__(self, *, engine: Engine, vault: Vault, clock: Clock,
                 lifetime_seconds: int = LIFETIME_SECONDS) -> None:
        self._engine = engine
        self._vault = vault
        self._clock = clock
        self._lifetime = dt.timedelta(seconds=lifetime_seconds)

    def challenge(self, *, client_id: str, key_thumbprint: str) -> StepUpChallenge | None:
        """The key's pending code, or a new one; None for a client unknown or revoked."""
        try:
            return self._challenge(client_id, key_thumbprint)
        except IntegrityError:  # another worker made the key's row meanwhile: use it
            return self._challenge(client_id, key_thumbprint)

    def pending(self, *, code: str, organisation_id: int) -> PendingStepUp | None:
        """The pending code of one of this organisation's active clients, or None: an
        unknown, expired, used code and another organisation's look alike."""
        with DbSession(self._engine) as db:
            row = self._find(db, code, organisation_id)
            return None if row is None else _pending(*row)

    def redeem(self, *, code: str, organisation_id: int,
               account_id: int) -> PendingStepUp | None:
        """Use the code once (as `pending`, then spent); None if it cannot be used."""
        now = self._clock.now()
        with DbSession(self._engine) as db, db.begin():
            row = self._find(db, code, organisation_id)
            if row is None:
                return None
            # Single use across workers: only the first update finds it unused.
            spent = db.execute(update(ApiStepUpCode).where(
                ApiStepUpCode.id == row[0].id, ApiStepUpCode.used_at.is_(None),
                ApiStepUpCode.expires_at > now,
                ApiStepUpCode.created_at <= now + clock_skew.TOLERANCE,
            ).values(used_at=now, used_by=account_id))
            if spent.rowcount != 1:  # type: ignore[attr-defined]
                return None
            return _pending(*row)

    def first_refusal(self, *, code_id: int) -> bool:
        """Mark the pending code as told to the admins (someone not allowed typed it);
        True only the first time for that code, across workers."""
        now = self._clock.now()
        with DbSession(self._engine) as db, db.begin():
            marked = db.execute(update(ApiStepUpCode).where(
                ApiStepUpCode.id == code_id, ApiStepUpCode.refusal_told_at.is_(None),
                ApiStepUpCode.used_at.is_(None), ApiStepUpCode.expires_at > now,
            ).values(refusal_told_at=now))
            return bool(marked.rowcount == 1)  # type: ignore[attr-defined]

    def key_thumbprints(self, *, client_id: str) -> list[str]:
        """The client's keys asked for a step-up lately (a row is kept a day after its
        code expired), newest first: for the security console."""
        with DbSession(self._engine) as db:
            return list(db.scalars(select(ApiStepUpCode.jkt)
                                   .where(ApiStepUpCode.client_id == client_id)
                                   .order_by(ApiStepUpCode.created_at.desc())))

    # -- internals ---------------------------------------------------------------------

    def _challenge(self, client_id: str, jkt: str) -> StepUpChallenge | None:
        now = self._clock.now()
        with DbSession(self._engine) as db, db.begin():
            client = db.scalar(select(ApiClient).where(ApiClient.client_id == client_id,
                                                       ApiClient.revoked_at.is_(None)))
            if client is None:
                return None
            row = db.scalar(select(ApiStepUpCode).where(ApiStepUpCode.client_id == client_id,
                                                        ApiStepUpCode.jkt == jkt))
            if row is not None and clock_skew.ahead(row.created_at, now):
                # Made before the clock went back: a new code, with a life from now.
                clock_skew.refused("api_step_up_code", at=row.created_at, now=now)
            elif row is not None and row.used_at is None and row.expires_at > now:
                code = self._vault.open(row.sealed, version=row.key_version, kind=_PURPOSE,
                                        row_token=_row_token(client_id, jkt))[0]
                return _challenge_of(code, row.expires_at, now)
            db.execute(delete(ApiStepUpCode).where(
                ApiStepUpCode.expires_at < now - KEPT_AFTER_EXPIRY))
            if row is None:
                row = ApiStepUpCode(client_id=client_id, jkt=jkt)
                db.add(row)
            code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
            row.organisation_id = client.organisation_id
            row.code_index = self._vault.index(_PURPOSE, code)
            row.key_version = self._vault.current_version
            row.sealed = self._vault.seal([code], kind=_PURPOSE,
                                          row_token=_row_token(client_id, jkt))
            row.created_at = now
            row.expires_at = now + self._lifetime
            row.used_at = None
            row.used_by = None
            row.refusal_told_at = None  # a new code: its own refusal notice
            return _challenge_of(code, row.expires_at, now)

    def _find(self, db: DbSession, code: str,
              organisation_id: int) -> tuple[ApiStepUpCode, str] | None:
        cleaned = normalise(code)
        if cleaned is None:
            return None
        now = self._clock.now()
        found = db.execute(
            select(ApiStepUpCode, ApiClient.name)
            .join(ApiClient, ApiClient.client_id == ApiStepUpCode.client_id)
            .where(ApiStepUpCode.code_index.in_(self._vault.index_candidates(_PURPOSE, cleaned)),
                   ApiStepUpCode.organisation_id == organisation_id,
                   ApiClient.organisation_id == organisation_id,
                   ApiClient.revoked_at.is_(None),
                   ApiStepUpCode.used_at.is_(None),
                   ApiStepUpCode.expires_at > now)).first()
        if found is not None and clock_skew.ahead(found[0].created_at, now):
            clock_skew.refused("api_step_up_code", at=found[0].created_at, now=now)
            return None
        return None if found is None else (found[0], found[1])


def _row_token(client_id: str, jkt: str) -> bytes:
    return f"api-step-up:{client_id}:{jkt}".encode()


def _challenge_of(code: str, expires_at: dt.datetime, now: dt.datetime) -> StepUpChallenge:
    return StepUpChallenge(user_code=displayed(code), expires_at=expires_at,
                           expires_in=max(0, int((expires_at - now).total_seconds())))


def _pending(row: ApiStepUpCode, name: str) -> PendingStepUp:
    return PendingStepUp(id=row.id, client_id=row.client_id, client_name=name,
                         key_thumbprint=row.jkt, organisation_id=row.organisation_id,
                         expires_at=row.expires_at)
