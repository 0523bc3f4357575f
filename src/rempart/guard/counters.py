"""Sliding-window counters on a `limits` storage, driven by the injected clock.

`limits`' strategies read the wall clock, but the guard must run on rempart's clock
(the drill plays weeks in minutes, tests move a ManualClock). So the guard uses
`limits`' storages — RedisStorage when scaled out (atomic increment-with-expiry in
Lua, connection pooling), or the clock-driven memory storage below on one machine —
and computes `limits`' sliding-window-counter arithmetic itself from clock-aligned
buckets: count = previous bucket x (share of it still inside the window) + current.
Bucket keys carry the bucket number, so expiry only collects garbage.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any, cast

import redis
from limits.errors import StorageError
from limits.storage import RedisStorage, Storage

from rempart.clock import Clock
from rempart.guard.errors import GuardUnavailable

_SWEEP_EVERY = 4096
# A counter can carry two counts: the low one (checks) and, in units of HIGH, the high
# one (failed matches), so one key per scope serves both ceilings.
HIGH = 1 << 24
_NAMES_MAX = 200_000


class ClockedMemoryStorage(Storage):
    """A `limits` counter storage whose expiry follows rempart's clock."""

    STORAGE_SCHEME = None

    def __init__(self, clock: Clock) -> None:
        super().__init__(None)
        self._clock = clock
        self._lock = threading.Lock()
        self._counters: dict[str, tuple[int, float]] = {}
        self._windows: dict[tuple[str, int], list[int]] = {}
        self._writes = 0
        self._slides = 0

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
        windows = self._windows
        out = []
        with self._lock:
            for key, window, amount in keys:
                position = ts / window
                bucket = int(position)
                entry = windows.get((key, window))
                if entry is None:
                    entry = windows[(key, window)] = [bucket, 0, 0]
                elif entry[0] != bucket:
                    previous = entry[1] if entry[0] == bucket - 1 else 0
                    entry[0], entry[1], entry[2] = bucket, 0, previous
                if amount:
                    entry[1] += amount
                current, previous = entry[1], entry[2]
                weight = 1.0 - (position - bucket)
                out.append(((previous % HIGH) * weight + current % HIGH,
                            (previous // HIGH) * weight + current // HIGH))
            self._slides += 1
            if self._slides >= _SWEEP_EVERY * 16:
                self._slides = 0
                for found in [k for k, e in windows.items() if e[0] < ts / k[1] - 2]:
                    del windows[found]
        return out

    def get_expiry(self, key: str) -> float:
        return self._counters.get(key, (0, self._now()))[1]

    def check(self) -> bool:
        return True

    def reset(self) -> int | None:
        with self._lock:
            count = len(self._counters) + len(self._windows)
            self._counters.clear()
            self._windows.clear()
            return count

    def clear(self, key: str) -> None:
        with self._lock:
            self._counters.pop(key, None)

    def __len__(self) -> int:
        return len(self._counters) + len(self._windows)

    def _sweep(self, now: float) -> None:
        for key in [k for k, (_, until) in self._counters.items() if until <= now]:
            del self._counters[key]


# (names entry, expiry seconds, weight of the previous bucket, amount)
_Step = tuple[list[Any], int, float, int]


class SlidingWindows:
    """Sliding-window counts for many keys at once: one Redis round trip, or in-process."""

    def __init__(self, storage: Storage, *, prefix: str = "g") -> None:
        self._storage = storage
        self._prefix = prefix
        self._redis = storage if isinstance(storage, RedisStorage) else None
        self._memory = storage if isinstance(storage, ClockedMemoryStorage) else None
        # Per (key, window): [bucket, its key, the previous bucket's key, that bucket's
        # count once read], replaced when the bucket changes.
        self._names: dict[tuple[str, int], list[Any]] = {}

    def hit(self, keys: Sequence[tuple[str, int, int]], ts: float) -> list[tuple[float, float]]:
        """Add `amount` to each (key, window seconds, amount) — 0 only reads, HIGH counts a
        failure — and return each window's sliding (low, high) counts after it."""
        if self._memory is not None:
            return self._memory.slide(keys, ts)
        names = self._names
        plan: list[_Step] = []
        for key, window, amount in keys:
            position = ts / window
            bucket = math.floor(position)
            found = names.get((key, window))
            if found is None or found[0] != bucket:
                base = f"{self._prefix}:{key}:{window}:"
                found = [bucket, base + str(bucket), base + str(bucket - 1), None]
                if len(names) >= _NAMES_MAX:
                    names.clear()
                names[(key, window)] = found
            plan.append((found, 2 * window + 1, 1.0 - (position - bucket), amount))
        try:
            if self._redis is not None:
                currents, previous = self._redis_counts(self._redis, plan)
            else:
                currents = self._local_currents(plan)
                previous = [self._previous_count(step[0]) for step in plan]
        except StorageError as exc:
            raise GuardUnavailable("rate counting") from exc
        except Exception as exc:
            if self._redis is not None and isinstance(exc, self._redis.base_exceptions):
                raise GuardUnavailable("rate counting") from exc
            raise
        out = []
        for c, p, step in zip(currents, previous, plan, strict=True):
            weight = step[2]
            out.append(((p % HIGH) * weight + c % HIGH, (p // HIGH) * weight + c // HIGH))
        return out

    def _local_currents(self, plan: list[_Step]) -> list[int]:
        if self._memory is not None:
            return self._memory.incr_many([step[0][1] for step in plan],
                                          [step[1] for step in plan],
                                          [step[3] for step in plan])
        storage = self._storage
        return [storage.incr(step[0][1], step[1], step[3]) if step[3]
                else storage.get(step[0][1]) for step in plan]

    def _previous_count(self, entry: list[Any]) -> int:
        # A finished bucket never changes again: read it once per bucket.
        if entry[3] is None:
            entry[3] = self._storage.get(entry[2])
        return int(entry[3])

    @staticmethod
    def _redis_counts(redis_storage: RedisStorage,
                      plan: list[_Step]) -> tuple[list[int], list[int]]:
        client = cast(redis.Redis, redis_storage.get_connection())
        pipe = client.pipeline(transaction=False)
        for entry, expiry, _, amount in plan:
            if amount:
                redis_storage.lua_incr_expire(keys=[redis_storage.prefixed_key(entry[1])],
                                              args=[expiry, amount], client=pipe)
            else:
                pipe.get(redis_storage.prefixed_key(entry[1]))
            pipe.get(redis_storage.prefixed_key(entry[2]))
        replies = pipe.execute()
        return ([int(r or 0) for r in replies[0::2]], [int(r or 0) for r in replies[1::2]])
