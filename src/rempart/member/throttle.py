"""Rate limits on member links: per client address and per link subject.

Each presented link costs one hit in two moving windows (the `limits` library, on the
storage the login throttle uses: memory by default, Redis when
`REMPART_THROTTLE_STORAGE` names one): one for the client address, one for the link's
subject (its insurer and member number, hashed: the limiter's keys never hold a member
number, even in Redis). The subject is read from the token before its signature is
checked, so that a flood of forged links about one person is refused before each one
costs a signature check and an audit entry. A refused hit raises `MemberThrottled` with
the seconds to wait; a storage that cannot answer raises `MemberLimitUnavailable` (the
link is refused: fail closed).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import time
from dataclasses import dataclass

import orjson
import structlog
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.strategies import MovingWindowRateLimiter

from rempart.clock import Clock
from rempart.member.errors import MemberError
from rempart.ratelimit import ClockedMemoryStorage

log = structlog.get_logger(__name__)
_SUBJECT_DOMAIN = b"rempart-member-subject/1\x00"
MAX_TOKEN = 4096
UNAVAILABLE_RETRY_S = 30  # what a refused person is told to wait while the storage is down


class MemberThrottled(MemberError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many member links: retry in {retry_after} s")
        self.retry_after = retry_after


class MemberLimitUnavailable(MemberError):
    """The rate-limit storage did not answer: links are refused until it does."""


@dataclass(frozen=True, slots=True)
class MemberLimits:
    """A person opens their history a few times in a visit; an address behind a NAT
    (a household, an office) somewhat more. Anything beyond is not a person."""

    per_address: int = 30
    per_subject: int = 10
    window_s: int = 600
    namespace: str = "rempart-member"


class MemberThrottle:
    def __init__(self, *, limiter: MovingWindowRateLimiter, clock: Clock,
                 limits: MemberLimits | None = None) -> None:
        self._limiter = limiter
        self._clock = clock
        self._limits = limits or MemberLimits()
        window = self._limits.window_s
        self._address = RateLimitItemPerSecond(self._limits.per_address, window,
                                               namespace=f"{self._limits.namespace}-addr")
        self._subject = RateLimitItemPerSecond(self._limits.per_subject, window,
                                               namespace=f"{self._limits.namespace}-subj")

    def hit(self, *, token: str, address: str | None) -> None:
        """Count one link presentation; MemberThrottled when a window is full."""
        scopes: list[tuple[str, RateLimitItem, str]] = [
            ("address", self._address, address or "unknown")]
        subject = link_subject(token)
        if subject is not None:
            scopes.append(("subject", self._subject, subject))
        try:
            for name, item, key in scopes:
                if not self._limiter.hit(item, key):
                    log.warning("member links throttled", scope=name)
                    raise MemberThrottled(self._retry_after(item, key))
        except MemberThrottled:
            raise
        except Exception as exc:  # the storage's own errors (Redis down, time-outs)
            log.warning("member rate-limit storage unavailable", error_type=type(exc).__name__)
            raise MemberLimitUnavailable("rate-limit storage unavailable") from None

    def _retry_after(self, item: RateLimitItem, key: str) -> int:
        stats = self._limiter.get_window_stats(item, key)
        # The memory storage runs on the injected clock; Redis on the server's time.
        now = (self._clock.now().timestamp() if isinstance(self._limiter.storage,
                                                           ClockedMemoryStorage)
               else time.time())
        return min(self._limits.window_s, max(1, math.ceil(stats.reset_time - now)))


def link_subject(token: str) -> str | None:
    """A hash of the (unverified) issuer and subject of a compact JWS, or None."""
    parts = token.split(".") if len(token) <= MAX_TOKEN else []
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    if not isinstance(claims, dict):
        return None
    issuer, subject = claims.get("iss"), claims.get("sub")
    if not isinstance(issuer, str) or not isinstance(subject, str):
        return None
    digest = hashlib.sha256(_SUBJECT_DOMAIN + f"{issuer}\x00{subject}".encode()).hexdigest()
    return digest[:32]
