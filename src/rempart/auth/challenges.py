"""Server-side WebAuthn challenges: random, bound to a purpose and account, single use.

The browser gets an opaque ceremony id; the challenge itself stays in the database.
Taking a challenge deletes it, so an answer can be checked once, whether it passes or
not; expired challenges cannot be taken and are purged as new ones are made. A challenge
made before the wall clock went back (its creation ahead of the clock, rempart.auth.
clock_skew) counts as expired: otherwise it would live the jump longer.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session as DbSession

from rempart.auth import clock_skew
from rempart.auth.client import MAX_TOKEN_LENGTH
from rempart.auth.models import WebauthnChallenge
from rempart.auth.tokens import new_token, token_hash
from rempart.clock import Clock

CHALLENGE_BYTES = 32


@dataclass(frozen=True, slots=True)
class PendingChallenge:
    challenge: bytes
    account_id: int | None


class ChallengeStore:
    def __init__(self, *, engine: Engine, clock: Clock, lifetime_seconds: int) -> None:
        self._engine = engine
        self._clock = clock
        self._lifetime = dt.timedelta(seconds=lifetime_seconds)

    def create(self, *, purpose: str, account_id: int | None) -> tuple[str, bytes]:
        """A new challenge; returns (ceremony id for the client, challenge bytes)."""
        ceremony_id = new_token()
        challenge = secrets.token_bytes(CHALLENGE_BYTES)
        now = self._clock.now()
        with DbSession(self._engine) as db, db.begin():
            db.execute(delete(WebauthnChallenge).where(
                (WebauthnChallenge.expires_at <= now)
                | (WebauthnChallenge.created_at > now + clock_skew.TOLERANCE)))
            db.add(WebauthnChallenge(ceremony_hash=token_hash(ceremony_id), purpose=purpose,
                                     account_id=account_id, challenge=challenge,
                                     created_at=now, expires_at=now + self._lifetime))
        return ceremony_id, challenge

    def take(self, *, ceremony_id: str, purpose: str) -> PendingChallenge | None:
        """The challenge of a live ceremony, removed; None if unknown, used or expired."""
        if not ceremony_id or len(ceremony_id) > MAX_TOKEN_LENGTH:
            return None
        with DbSession(self._engine) as db, db.begin():
            row = db.scalar(select(WebauthnChallenge).where(
                WebauthnChallenge.ceremony_hash == token_hash(ceremony_id)).with_for_update())
            if row is None:
                return None
            db.delete(row)
            now = self._clock.now()
            if clock_skew.ahead(row.created_at, now):
                clock_skew.refused("webauthn_challenge", at=row.created_at, now=now)
                return None
            if row.purpose != purpose or row.expires_at <= now:
                return None
            return PendingChallenge(challenge=row.challenge, account_id=row.account_id)
