"""Passwords: Argon2id hashing and the rules a new password must meet.

Hashing uses argon2-cffi with the parameters of `AuthSettings` (OWASP's Argon2id
recommendation, see rempart.auth.config). Verifying an unknown login still runs one
Argon2 verification against a dummy hash, so a wrong login and a wrong password take
the same time. The rules follow NIST SP 800-63B: a minimum length, a generous
maximum, no composition rules, refusal of common and breached passwords and of
passwords built from the service name or the login.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from argon2 import PasswordHasher as Argon2Hasher
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from rempart.auth.blocklist import PasswordRangeSource, configured, is_listed
from rempart.auth.config import AuthSettings
from rempart.auth.errors import WeakPassword

SERVICE_WORDS = ("rempart", "viamedis", "almerys", "tierspayant")


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    # A new hash when the stored one used older parameters; store it.
    new_hash: str | None = None


class PasswordHasher:
    def __init__(self, settings: AuthSettings) -> None:
        self._argon = Argon2Hasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self._dummy = self._argon.hash("rempart-dummy-password-for-timing")

    def hash(self, password: str) -> str:
        return self._argon.hash(normalise(password))

    def verify(self, stored: str | None, password: str) -> Verification:
        """Check a password; with no stored hash, spend the same effort and fail."""
        if stored is None:
            self._check(self._dummy, password)
            return Verification(ok=False)
        if not self._check(stored, password):
            return Verification(ok=False)
        if self._argon.check_needs_rehash(stored):
            return Verification(ok=True, new_hash=self.hash(password))
        return Verification(ok=True)

    def _check(self, stored: str, password: str) -> bool:
        try:
            return self._argon.verify(stored, normalise(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def normalise(password: str) -> str:
    """NFKC, as NIST SP 800-63B advises, so the same password typed on two keyboards matches."""
    return unicodedata.normalize("NFKC", password)


class PasswordPolicy:
    def __init__(self, settings: AuthSettings,
                 blocklist: PasswordRangeSource | None = None) -> None:
        self._min = settings.password_min_length
        self._max = settings.password_max_length
        self._blocklist = blocklist or configured(settings.password_list_file)

    def check(self, password: str, *, login: str = "") -> None:
        """Raise WeakPassword with a reason code the edges can translate."""
        value = normalise(password)
        # Length as typed: NFKC can expand a character ("ﬃ" is three letters after it).
        if len(password) < self._min:
            raise WeakPassword("too_short", f"a password needs at least {self._min} characters")
        if max(len(value), len(password)) > self._max:
            raise WeakPassword("too_long", f"a password has at most {self._max} characters")
        if len(set(value)) < 3:
            raise WeakPassword("repetitive", "this password repeats the same few characters")
        if is_listed(self._blocklist, value):
            raise WeakPassword(
                "common", "this password is among the most common or breached passwords")
        lowered = value.lower()
        local_part = login.strip().lower().partition("@")[0]
        context = [w for w in (*SERVICE_WORDS, local_part) if len(w) >= 4]
        if any(word in lowered and len(lowered) - len(word) < 8 for word in context):
            raise WeakPassword(
                "context", "this password is too close to your login or the service name")
