"""Single-use recovery codes, stored hashed.

Each code is 80 random bits written as 16 base32 characters in four groups; at that
entropy a SHA-256 of the code is as safe to store as a slow hash. A new set replaces
the old one. Operator accounts get none: they must use a passkey.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session as DbSession

from rempart.auth.errors import InvalidInput, InvalidSecondFactor
from rempart.auth.models import RecoveryCode
from rempart.clock import Clock

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 symbols without 0/O and 1/I
CODE_LENGTH = 16
GROUP = 4


def _new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i:i + GROUP] for i in range(0, CODE_LENGTH, GROUP))


def normalise_code(code: str) -> str:
    cleaned = code.replace("-", "").replace(" ", "").strip().upper()
    if len(cleaned) != CODE_LENGTH or any(c not in ALPHABET for c in cleaned):
        raise InvalidInput("recovery_code", f"{CODE_LENGTH} letters and digits expected")
    return cleaned


def _hash(code: str) -> bytes:
    return hashlib.sha256(b"rempart/recovery\x00" + code.encode("ascii")).digest()


class RecoveryCodes:
    def __init__(self, *, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def generate(self, *, account_id: int, count: int) -> list[str]:
        """A fresh set (the previous set stops working); shown to the user once."""
        codes = [_new_code() for _ in range(count)]
        now = self._clock.now()
        with DbSession(self._engine) as db, db.begin():
            db.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
            db.add_all(RecoveryCode(account_id=account_id, code_hash=_hash(normalise_code(c)),
                                    created_at=now) for c in codes)
        return codes

    def remaining(self, account_id: int) -> int:
        with DbSession(self._engine) as db:
            return db.scalar(select(func.count()).select_from(RecoveryCode).where(
                RecoveryCode.account_id == account_id, RecoveryCode.used_at.is_(None))) or 0

    def use(self, *, account_id: int, code: str) -> None:
        """Spend a code, or raise InvalidSecondFactor; a code never works twice."""
        digest = _hash(normalise_code(code))
        with DbSession(self._engine) as db, db.begin():
            result = db.execute(
                update(RecoveryCode)
                .where(RecoveryCode.account_id == account_id,
                       RecoveryCode.code_hash == digest, RecoveryCode.used_at.is_(None))
                .values(used_at=self._clock.now())
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise InvalidSecondFactor("recovery", "wrong or already used code")
