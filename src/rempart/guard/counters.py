"""Sliding-window counters on a `limits` storage, driven by the injected clock.

`limits`' strategies read the wall clock, but the guard must run on rempart's clock
(the drill plays weeks in minutes, tests move a ManualClock). So the guard uses
`limits`' storages — RedisStorage when scaled out (atomic increment-with-expiry in
Lua, connection pooling), or the clock-driven memory storage of `rempart.ratelimit`
(shared with the login throttle) on one machine —
and computes `limits`' sliding-window-counter arithmetic itself from clock-aligned
buckets: count = previous bucket x (share of it still inside the window) + current.
Bucket keys carry the bucket number, so expiry only collects garbage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import redis
from limits.errors import StorageError
from limits.storage import RedisStorage, Storage

from rempart.guard.errors import GuardUnavailable
from rempart.ratelimit import HIGH, ClockedMemoryStorage

_NAMES_MAX = 200_000

# Every window of one hit in one command (a pipeline of two commands per window cost
# about 60 commands' packing and parsing per check): for each (current bucket, previous
# bucket) pair of KEYS and (expiry, amount) pair of ARGV, `limits`' incr-with-expiry
# (or a read when the amount is 0), then the previous bucket's count.
_SLIDE_LUA = """
local out = {}
for i = 1, #KEYS, 2 do
    local expiry, amount = ARGV[i], tonumber(ARGV[i + 1])
    local current
    if amount > 0 then
        current = redis.call("incrby", KEYS[i], amount)
        if tonumber(current) == amount then
            redis.call("expire", KEYS[i], expiry)
        end
    else
        current = tonumber(redis.call("get", KEYS[i]) or 0)
    end
    out[i] = current
    out[i + 1] = tonumber(redis.call("get", KEYS[i + 1]) or 0)
end
return out
"""


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
        self._slide_script: Any = None

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

    def _redis_counts(self, redis_storage: RedisStorage,
                      plan: list[_Step]) -> tuple[list[int], list[int]]:
        if self._slide_script is None:
            client = cast(redis.Redis, redis_storage.get_connection())
            self._slide_script = client.register_script(_SLIDE_LUA)
        keys: list[str] = []
        args: list[int] = []
        for entry, expiry, _, amount in plan:
            keys += (redis_storage.prefixed_key(entry[1]), redis_storage.prefixed_key(entry[2]))
            args += (expiry, amount)
        replies = self._slide_script(keys=keys, args=args)
        return [int(r) for r in replies[0::2]], [int(r) for r in replies[1::2]]
