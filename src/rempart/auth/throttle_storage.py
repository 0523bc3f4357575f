"""The login throttle's limiter: `limits`' moving window on the configured storage, the
clock-driven memory storage of `rempart.ratelimit` (shared with the exfiltration
guard) on one machine, Redis (server time) on several."""

from __future__ import annotations

from limits.strategies import MovingWindowRateLimiter

from rempart.clock import Clock
from rempart.ratelimit import storage_for


def make_limiter(storage_uri: str, clock: Clock) -> MovingWindowRateLimiter:
    """The moving-window limiter on the configured storage."""
    return MovingWindowRateLimiter(storage_for(storage_uri, clock))
