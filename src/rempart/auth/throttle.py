"""Login throttling that slows attackers down and never locks an honest user out.

Failures are counted in moving windows (the `limits` library) per account, per
address and across the service. Past a few free failures in a scope, each attempt in
it must wait a delay that doubles with every further failure, up to a ceiling: there
is no lockout, only waiting, and at most `throttle_max_delay_seconds` after the last
failure. A browser that already completed a full login to the account (a known
device) is counted on its own, so an attacker hammering an account or sharing an
address cannot slow its owner down. When failures across the service pass a rate
that only an attack produces, the free allowances of unknown devices shrink.

Scopes are keyed by the blind index of the login typed, whether or not an account
has it, so throttling behaves the same for unknown logins.

A storage that cannot answer (Redis down or timing out) raises LoginUnavailable: an
attempt that cannot be counted is refused, never let through uncounted.

The windows are read on the wall clock (limits' Redis storage stamps entries with the
writing process's clock too). A wait is never more than the delay that earned it: a
clock set back would otherwise keep a shut gate shut for the jump's length (see
`_wait`). Failures counted before a jump back stay counted the jump longer (delays stay
up to the ceiling that much longer); set forward, the windows empty at once (an
attacker's count starts again, once per jump: one window's allowance).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.strategies import MovingWindowRateLimiter

from rempart.auth import clock_skew
from rempart.auth.config import AuthSettings
from rempart.auth.errors import LoginUnavailable
from rempart.clock import Clock
from rempart.ratelimit import ClockedMemoryStorage

log = structlog.get_logger(__name__)
COUNT_CAP = 10_000
GLOBAL_WINDOW = 60


@dataclass(frozen=True, slots=True)
class Attempt:
    """Who is trying: the login's key, the address, and the device if known to that account."""

    login_key: str
    address: str
    known_device: str | None = None


@dataclass(frozen=True, slots=True)
class _Scope:
    key: str
    free: int


class LoginThrottle:
    def __init__(self, *, limiter: MovingWindowRateLimiter, clock: Clock,
                 settings: AuthSettings, namespace: str = "login") -> None:
        self._limiter = limiter
        self._clock = clock
        self._settings = settings
        self._namespace = namespace
        self._storage_errors: tuple[type[Exception], ...] = (StorageError,
                                                             *_errors_of(limiter))
        window = settings.throttle_window_seconds
        self._failures = RateLimitItemPerSecond(COUNT_CAP, window, namespace="rempart-fail")
        self._global = RateLimitItemPerSecond(COUNT_CAP, GLOBAL_WINDOW,
                                              namespace="rempart-global")

    def retry_after(self, attempt: Attempt) -> float:
        """Seconds to wait before this attempt may be checked; 0 when it may go ahead."""
        now = self._clock.now().timestamp()
        wait = 0.0
        with self._storage():
            for scope in self._scopes(attempt):
                count = self._count(self._failures, scope.key)
                delay = self.delay_for(count, scope.free)
                if delay:
                    gate = self._gate(delay)
                    stats = self._limiter.get_window_stats(gate, scope.key)
                    if stats.remaining < 1:
                        wait = max(wait, self._wait(gate, scope.key, delay,
                                                    stats.reset_time - now))
        return max(0.0, wait)

    def _wait(self, gate: RateLimitItem, key: str, delay: int, left: float) -> float:
        """The wait a shut gate asks, never more than the delay that shut it. More
        means the gate was shut on a later clock (the wall clock went back since, or
        this instance's is behind the one that shut it): the gate is shut again from
        now, for its delay, rather than keep an honest user out for the jump's length.
        A reset already past while the storage still holds the gate shut (this clock is
        ahead of the one that shut it) asks a second: a shut gate is never passed."""
        if left > delay + clock_skew.TOLERANCE.total_seconds():
            clock_skew.refused_ahead("login_throttle_gate", ahead_s=left - delay)
            self._limiter.clear(gate, key)
            self._limiter.hit(gate, key)
            return float(delay)
        return min(float(delay), left) if left > 0 else 1.0

    def failed(self, attempt: Attempt) -> None:
        with self._storage():
            self._limiter.hit(self._global, self._namespace)
            for scope in self._scopes(attempt):
                self._limiter.hit(self._failures, scope.key)
                delay = self.delay_for(self._count(self._failures, scope.key), scope.free)
                if delay:
                    gate = self._gate(delay)
                    self._limiter.clear(gate, scope.key)
                    self._limiter.hit(gate, scope.key)

    def succeeded(self, attempt: Attempt) -> None:
        """A full login from a known device clears that device's failures. Other scopes
        keep theirs: an attacker's failures on a login must not be forgiven because
        its owner logged in from a new device meanwhile."""
        if attempt.known_device is not None:
            with self._storage():
                for scope in self._scopes(attempt):
                    self._limiter.clear(self._failures, scope.key)

    def under_attack(self) -> bool:
        with self._storage():
            failures = self._count(self._global, self._namespace)
        return failures >= self._settings.throttle_global_failures_per_minute

    @contextmanager
    def _storage(self) -> Iterator[None]:
        """The storage's own errors (limits' wrapped or the backend's) as LoginUnavailable."""
        try:
            yield
        except self._storage_errors as exc:
            log.warning("login throttle storage unavailable", error_type=type(exc).__name__)
            raise LoginUnavailable from exc

    def delay_for(self, failures: int, free: int) -> int:
        """Seconds to wait after `failures` failures when `free` of them cost nothing."""
        if failures < free:
            return 0
        exponent = min(failures - free, 30)
        return int(min(self._settings.throttle_base_delay_seconds * 2 ** exponent,
                       self._settings.throttle_max_delay_seconds))

    def _scopes(self, attempt: Attempt) -> list[_Scope]:
        s = self._settings
        prefix = self._namespace
        if attempt.known_device is not None:
            return [_Scope(f"{prefix}:device:{attempt.login_key}:{attempt.known_device}",
                           s.throttle_account_free_failures)]
        attack = self.under_attack()
        account_free = s.throttle_account_free_failures
        address_free = s.throttle_address_free_failures
        if attack:
            account_free = min(account_free, s.throttle_attack_free_failures)
            address_free = min(address_free, s.throttle_attack_free_failures)
        return [_Scope(f"{prefix}:login:{attempt.login_key}", account_free),
                _Scope(f"{prefix}:address:{attempt.address}", address_free)]

    def _count(self, item: RateLimitItem, key: str) -> int:
        return item.amount - self._limiter.get_window_stats(item, key).remaining

    @staticmethod
    def _gate(delay: int) -> RateLimitItem:
        return RateLimitItemPerSecond(1, delay, namespace="rempart-gate")


def _errors_of(limiter: MovingWindowRateLimiter) -> tuple[type[Exception], ...]:
    """What the limiter's storage raises when its backend fails (redis.RedisError for
    Redis), as `limits` declares it; nothing for the in-process storage."""
    if isinstance(limiter.storage, ClockedMemoryStorage):
        return ()
    found = limiter.storage.base_exceptions
    return found if isinstance(found, tuple) else (found,)
