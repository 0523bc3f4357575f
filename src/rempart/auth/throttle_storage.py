"""The login throttle's limiter: `limits`' moving window on the configured storage, the
clock-driven memory storage of `rempart.ratelimit` (shared with the exfiltration
guard) on one machine, Redis on several (`limits` stamps its entries there with the
writing process's `time.time()`: docs/auth.md "Clock jumps")."""

from __future__ import annotations

from limits.strategies import MovingWindowRateLimiter

from rempart.auth.config import AuthSettings
from rempart.clock import Clock
from rempart.ratelimit import storage_for


def make_limiter(storage_uri: str, clock: Clock, *,
                 prefix: str = AuthSettings.throttle_prefix) -> MovingWindowRateLimiter:
    """The moving-window limiter on the configured storage (Redis keys under `prefix`)."""
    return MovingWindowRateLimiter(storage_for(storage_uri, clock, prefix=prefix))
