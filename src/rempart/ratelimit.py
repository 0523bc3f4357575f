"""Rate-limit storage on rempart's clock, shared by the login throttle
(`rempart.auth.throttle`) and the exfiltration guard (`rempart.guard.counters`).

`limits`' own memory storage reads the wall clock, so a test or a drill that moves a
ManualClock could not see a window slide. `ClockedMemoryStorage` is a `limits` storage
driven by the injected clock, for one machine; several machines name a Redis URI and
use `limits`' RedisStorage (`storage_for`), the one place that choice is made.

`REMPART_REDIS_URL` is the one switch to shared state: every component that keeps state
workers must share (the login and member throttles, the guard) uses that Redis unless
its own variable names another storage, under keys prefixed with `REMPART_REDIS_PREFIX`
(default `rempart`) and the component's name, so several instances can share a server.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence

from limits.storage import storage_from_string
from limits.storage.base import MovingWindowSupport, Storage

from rempart.clock import Clock

MEMORY_URIS = ("memory://", "memory")
REDIS_URL_ENV = "REMPART_REDIS_URL"
REDIS_PREFIX_ENV = "REMPART_REDIS_PREFIX"
DEFAULT_REDIS_PREFIX = "rempart"
_SWEEP_EVERY = 4096
_SWEEP_EVENTS_EVERY = 1024
# A counter can carry two counts: the low one (checks) and, in units of HIGH, the high
# one (failed matches), so one key per scope serves both ceilings.
HIGH = 1 << 24
# Counts of a key read but never counted, and of a key counted once: shared.
_ZERO = (0.0, 0.0)
_ONE = (1.0, 0.0)


class ClockedMemoryStorage(Storage, MovingWindowSupport):
    """A `limits` storage whose time is rempart's clock: fixed-expiry counters, the
    moving window (`limits`' MovingWindowRateLimiter runs on it unchanged), and the
    guard's sliding-window buckets (`slide`)."""

    STORAGE_SCHEME = None

    def __init__(self, clock: Clock) -> None:
        super().__init__(None)
        self._clock = clock
        self._lock = threading.Lock()
        self._counters: dict[str, tuple[int, float]] = {}
        # Per window length, per key: (bucket, its count, the previous bucket's count).
        # One dict per window length (a guard uses five) keyed by the key itself: a
        # string's hash is cached, where a (key, window) tuple was built and hashed for
        # every count. Tuples, not lists: tuples of numbers leave the cyclic collector's
        # lists after its first pass, and the guard keeps hundreds of thousands of these.
        self._windows: dict[int, dict[str, tuple[int, int, int]]] = {}
        # Moving windows: per key, entry times newest first, and the longest expiry used.
        self._events: dict[str, list[float]] = defaultdict(list)
        self._expiry: dict[str, float] = {}
        self._writes = 0
        self._slides = 0
        self._acquired = 0
        self._span_ts = float("nan")
        self._spans: dict[int, tuple[int, float, dict[str, tuple[int, int, int]]]] = {}

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ValueError

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = self._now()
        with self._lock:
            value, until = self._counters.get(key, (0, now + expiry))
            if until <= now:
                value, until = 0, now + expiry
            value += amount
            self._counters[key] = (value, until)
            self._writes += 1
            if self._writes >= _SWEEP_EVERY:
                self._writes = 0
                self._sweep(now)
            return value

    def get(self, key: str) -> int:
        value, until = self._counters.get(key, (0, 0.0))
        return value if until > self._now() else 0

    def incr_many(self, keys: Sequence[str], expiries: Sequence[int],
                  amounts: Sequence[int]) -> list[int]:
        """incr for several keys under one lock and one reading of the clock (an amount
        of 0 only reads)."""
        now = self._now()
        counters = self._counters
        values = []
        with self._lock:
            for key, expiry, amount in zip(keys, expiries, amounts, strict=True):
                value, until = counters.get(key, (0, now + expiry))
                if until <= now:
                    value, until = 0, now + expiry
                if amount:
                    value += amount
                    counters[key] = (value, until)
                values.append(value)
            self._writes += len(values)
            if self._writes >= _SWEEP_EVERY:
                self._writes = 0
                self._sweep(now)
        return values

    def slide(self, keys: Sequence[tuple[str, int, int]], ts: float) -> list[tuple[float, float]]:
        """The sliding-window counter itself, in process: per (key, window) the current and
        previous bucket's counts, shifted as the clock moves; see SlidingWindows.hit."""
        out: list[tuple[float, float]] = []
        append = out.append
        with self._lock:
            # Per window length: its bucket, the previous bucket's weight and its dict,
            # kept while the time stays the same (a check's two steps make three or four
            # calls at one time, over three or four lengths). Inline, not a method: one
            # Python call less per call.
            if ts != self._span_ts:
                self._span_ts = ts
                self._spans = {}
            spans = self._spans
            for key, window, amount in keys:
                span = spans.get(window)
                if span is None:
                    span = spans[window] = self._span(window, ts)
                bucket, weight, windows = span
                entry = windows.get(key)
                if entry is None:
                    # New (most keys of a new session, address or block): nothing to
                    # shift. A read stores nothing.
                    if amount:
                        windows[key] = (bucket, amount, 0)
                        append(_ONE if amount == 1 else (float(amount % HIGH),
                                                         float(amount // HIGH)))
                    else:
                        append(_ZERO)
                    continue
                if entry[0] == bucket:
                    current, previous = entry[1] + amount, entry[2]
                    if amount:
                        windows[key] = (bucket, current, previous)
                else:
                    # A stale entry is shifted again from the same values at every read.
                    current, previous = amount, entry[1] if entry[0] == bucket - 1 else 0
                    if amount:
                        windows[key] = (bucket, current, previous)
                if previous:
                    append(((previous % HIGH) * weight + current % HIGH,
                            (previous // HIGH) * weight + current // HIGH))
                else:
                    # The same values without the previous bucket's share (most keys:
                    # new, or idle for a bucket).
                    append((float(current % HIGH), float(current // HIGH)))
            self._slides += 1
            if self._slides >= _SWEEP_EVERY * 16:
                self._slides = 0
                for window, windows in self._windows.items():
                    oldest = ts / window - 2
                    for stale in [k for k, e in windows.items() if e[0] < oldest]:
                        del windows[stale]
        return out

    def count(self, keys: Sequence[tuple[str, int, int]], ts: float) -> None:
        """slide() whose counts nobody reads: the same buckets stored, no counts computed
        (half of a guard check's counts are such: sessions opened, what the look-up
        found, in each cohort)."""
        with self._lock:
            if ts != self._span_ts:  # the spans of this time, as in slide
                self._span_ts = ts
                self._spans = {}
            spans = self._spans
            for key, window, amount in keys:
                if not amount:
                    continue
                span = spans.get(window)
                if span is None:
                    span = spans[window] = self._span(window, ts)
                bucket, windows = span[0], span[2]
                entry = windows.get(key)
                if entry is None:
                    windows[key] = (bucket, amount, 0)
                elif entry[0] == bucket:
                    windows[key] = (bucket, entry[1] + amount, entry[2])
                else:
                    windows[key] = (bucket, amount, entry[1] if entry[0] == bucket - 1 else 0)
            self._slides += 1

    def _span(self, window: int, ts: float) -> tuple[int, float, dict[str, tuple[int, int, int]]]:
        position = ts / window
        start = int(position)
        found = self._windows.get(window)
        if found is None:
            found = self._windows[window] = {}
        return start, 1.0 - (position - start), found

    # -- moving window (the login throttle) -------------------------------------------

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = self._now()
        with self._lock:
            self._sweep_events(now)
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

    def _sweep_events(self, now: float) -> None:
        self._acquired += 1
        if self._acquired % _SWEEP_EVENTS_EVERY:
            return
        for key in [k for k, ev in self._events.items()
                    if not ev or ev[0] < now - self._expiry.get(k, 0.0)]:
            self._events.pop(key, None)
            self._expiry.pop(key, None)

    # -- the rest of the interface `limits` requires of every storage -----------------

    def get_expiry(self, key: str) -> float:
        return self._counters.get(key, (0, self._now()))[1]

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        with self._lock:
            count = len(self)
            self._counters.clear()
            self._windows.clear()
            self._spans = {}
            self._events.clear()
            self._expiry.clear()
            return count

    def clear(self, key: str) -> None:
        with self._lock:
            self._counters.pop(key, None)
            self._events.pop(key, None)
            self._expiry.pop(key, None)

    def __len__(self) -> int:
        """Keys currently held (the store sweeps keys idle past their window)."""
        return (len(self._counters) + sum(len(w) for w in self._windows.values())
                + len(self._events))

    def _sweep(self, now: float) -> None:
        for key in [k for k, (_, until) in self._counters.items() if until <= now]:
            del self._counters[key]


def shared_storage(env: Mapping[str, str], own: str) -> str:
    """A component's storage URI: its own variable, else the one switch, else memory."""
    return env.get(own) or env.get(REDIS_URL_ENV) or "memory://"


def redis_prefix(env: Mapping[str, str], component: str) -> str:
    """Where a component's keys live in a shared Redis: `<instance prefix>-<component>`."""
    return f"{env.get(REDIS_PREFIX_ENV) or DEFAULT_REDIS_PREFIX}-{component}"


def storage_for(uri: str, clock: Clock, *, prefix: str) -> Storage:
    """The clock-driven memory storage, or `limits`' storage for the URI (Redis), its
    keys under `prefix`."""
    if uri in MEMORY_URIS:
        return ClockedMemoryStorage(clock)
    storage = storage_from_string(uri, key_prefix=prefix)
    if not isinstance(storage, Storage):
        raise ValueError("a rate-limit storage URI must name a synchronous storage")
    return storage
