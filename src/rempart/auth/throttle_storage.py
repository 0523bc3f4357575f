"""An in-process `limits` storage whose time is rempart's injectable clock.

`limits`' own memory storage reads the wall clock, so a test or a drill that moves a
ManualClock could not see a window slide. This storage implements `limits`' moving
window interface on the injected clock; `limits`' strategies and rate-limit items
run unchanged on top of it. For several machines, `throttle_storage` names a Redis
URI instead, and `limits`' Redis storage (server time) is used.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

from limits.storage import MovingWindowSupport, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from rempart.clock import Clock

# Keys whose newest entry is older than this are dropped when the store is swept.
_SWEEP_EVERY = 1024


class ClockMemoryStorage(Storage, MovingWindowSupport):
    STORAGE_SCHEME = None

    def __init__(self, clock: Clock) -> None:
        super().__init__(None)
        self._clock = clock
        self._lock = threading.Lock()
        # Per key: entry times, newest first, and the longest expiry used for it.
        self._events: dict[str, list[float]] = defaultdict(list)
        self._expiry: dict[str, float] = {}
        self._counters: dict[str, tuple[int, float]] = {}
        self._writes = 0

    def __len__(self) -> int:
        """Keys currently held (the store sweeps keys idle past their window)."""
        return len(self._events) + len(self._counters)

    def _now(self) -> float:
        return self._clock.now().timestamp()

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ValueError

    # -- moving window ---------------------------------------------------------------

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = self._now()
        with self._lock:
            self._sweep(now)
            events = self._events[key]
            if len(events) >= limit - amount + 1 and events[limit - amount] >= now - expiry:
                return False
            events[:0] = [now] * amount
            self._expiry[key] = max(self._expiry.get(key, 0.0), float(expiry))
            return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = self._now()
        with self._lock:
            events = self._events.get(key, [])
            # Entries are newest first; count those inside the window.
            inside = bisect.bisect_left(events, -(now - expiry), key=lambda t: -t)
            if inside:
                return events[inside - 1], inside
            return now, 0

    def _sweep(self, now: float) -> None:
        self._writes += 1
        if self._writes % _SWEEP_EVERY:
            return
        for key in [k for k, ev in self._events.items()
                    if not ev or ev[0] < now - self._expiry.get(k, 0.0)]:
            self._events.pop(key, None)
            self._expiry.pop(key, None)

    # -- the counter interface `limits` requires of every storage ---------------------

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = self._now()
        with self._lock:
            value, until = self._counters.get(key, (0, now + expiry))
            if until <= now:
                value, until = 0, now + expiry
            self._counters[key] = (value + amount, until)
            return value + amount

    def get(self, key: str) -> int:
        value, until = self._counters.get(key, (0, 0.0))
        return value if until > self._now() else 0

    def get_expiry(self, key: str) -> float:
        return self._counters.get(key, (0, self._now()))[1]

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        with self._lock:
            count = len(self._events) + len(self._counters)
            self._events.clear()
            self._expiry.clear()
            self._counters.clear()
            return count

    def clear(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)
            self._expiry.pop(key, None)
            self._counters.pop(key, None)


def make_limiter(storage_uri: str, clock: Clock) -> MovingWindowRateLimiter:
    """The moving-window limiter on the configured storage."""
    if storage_uri in ("memory://", "memory"):
        return MovingWindowRateLimiter(ClockMemoryStorage(clock))
    return MovingWindowRateLimiter(storage_from_string(storage_uri))
