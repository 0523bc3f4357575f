"""Sliding-window counters on a `limits` storage, driven by the injected clock.

`limits`' strategies read the wall clock, but the guard must run on rempart's clock
(the drill plays weeks in minutes, tests move a ManualClock). So the guard uses
`limits`' storages — RedisStorage's bucket keys when scaled out, or the clock-driven
memory storage of `rempart.ratelimit` (shared with the login throttle) on one machine —
and computes `limits`' sliding-window-counter arithmetic itself from clock-aligned
buckets: count = previous bucket x (share of it still inside the window) + current.
Bucket keys carry the bucket number, so expiry only collects garbage.

On Redis the counts ride the guard state's round trips (rempart.guard.redis_trips, whose
script's SLIDE step is `limits`' increment-with-expiry, then the buckets it reads, in one
MGET):
`ask_ahead` plans a check's hits into the trip that loads its state, `hit` then takes
them from there; `add` (counts nobody reads back at once) is queued for the next trip.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

from limits.storage import RedisStorage, Storage

from rempart.guard.redis_trips import Command, Trips
from rempart.ratelimit import HIGH, ClockedMemoryStorage

_NAMES_MAX = 200_000

# (names entry, expiry seconds as text, weight of the previous bucket, amount)
_Step = tuple[list[Any], str, float, int]
# A hit asked ahead, by (key, window, amount): its (low, high) counts, and its current
# bucket's Redis key (to take an unused increment back).
_Ahead = dict[tuple[str, int, int], tuple[float, float, str]]


class _AskedAhead:
    """The hits a guard step asked ahead, per thread (Redis only): a step runs in one
    thread, and threads run steps of other accounts at once."""

    def __init__(self) -> None:
        self.ahead: _Ahead = {}
        self.ts = 0.0
        # Amounts queued by `add` since the hits asked ahead were counted, by (key, window).
        self.added: dict[tuple[str, int], int] = {}
        self.keys: list[tuple[str, int, int]] = []
        self.plan: list[_Step] = []


class SlidingWindows:
    """Sliding-window counts for many keys at once: one Redis round trip, or in-process."""

    def __init__(self, storage: Storage, *, prefix: str = "g", trips: Trips | None = None) -> None:
        """In process: rempart.ratelimit's ClockedMemoryStorage, no trips. Scaled out:
        `limits`' RedisStorage (its key prefix) with the guard state's trips."""
        memory = storage if isinstance(storage, ClockedMemoryStorage) else None
        redis_storage = storage if isinstance(storage, RedisStorage) else None
        valid = ((memory is not None and trips is None)
                 or (redis_storage is not None and trips is not None))
        if not valid:
            raise TypeError("SlidingWindows: a ClockedMemoryStorage, or a RedisStorage with trips")
        self._memory = memory
        self._redis = redis_storage
        self._trips = trips
        self._prefix = prefix
        # Per (key, window): [bucket, its Redis key, the previous bucket's], replaced when
        # the bucket changes.
        self._names: dict[tuple[str, int], list[Any]] = {}
        # Per thread, its _AskedAhead (_step_here). Not a subclass of threading.local:
        # compiled with mypyc that is a native class whose attributes all threads share.
        self._local = threading.local()
        # The latest time some kinds of counts were added, where their readers keep a
        # bound on them (rempart.guard.rungs.Rungs.may_distrust); in process only.
        self.latest: dict[str, float] = {}

    @property
    def in_process(self) -> bool:
        """Counts kept in this process alone (no other machine adds to them or reads them)."""
        return self._memory is not None

    def _step_here(self) -> _AskedAhead:
        step: _AskedAhead | None = getattr(self._local, "step", None)
        if step is None:
            step = self._local.step = _AskedAhead()
        return step

    def hit(self, keys: Sequence[tuple[str, int, int]], ts: float) -> list[tuple[float, float]]:
        """Add `amount` to each (key, window seconds, amount) — 0 only reads, HIGH counts a
        failure — and return each window's sliding (low, high) counts after it."""
        if self._memory is not None:
            return self._memory.slide(keys, ts)
        return self._hit_trips(self._trips_or_fail(), keys, ts)

    def add(self, keys: Sequence[tuple[str, int, int]], ts: float) -> None:
        """hit() whose counts nobody reads: on Redis, queued for the state's next trip; in
        memory, stored without computing them."""
        if self._memory is not None:
            self._memory.count(keys, ts)
            return
        if self._trips is None:  # the constructor pairs Redis with trips
            raise TypeError("SlidingWindows: no trips")
        self._trips.later(self._command(self._plan(keys, ts)))
        step = self._step_here()
        if step.ahead:
            added = step.added
            for key, window, amount in keys:
                added[(key, window)] = added.get((key, window), 0) + amount

    def read_adding(self, read: tuple[str, int, int], keys: Sequence[tuple[str, int, int]],
                    ts: float) -> tuple[float, float]:
        """hit([read, *keys])[0]: on Redis the additions are queued (add) and only the read
        may be sent (or taken from what was asked ahead); in memory, that hit."""
        memory = self._memory
        if memory is not None:
            # One pass: the additions' counts are computed and dropped (cheaper than a
            # second call that would not compute them).
            return memory.slide((read, *keys), ts)[0]
        self.add(keys, ts)
        return self.hit([read], ts)[0]

    def ask_ahead(self, keys: Sequence[tuple[str, int, int]], ts: float) -> Command | None:
        """The command counting `keys` in the state's next trip (Redis only), for `hit` to
        take from (`took_ahead`). Every increment asked ahead is counted once, by that
        hit or, unused, taken back by `settle`."""
        self.settle()
        if self._trips is None or len({(k, w, a) for k, w, a in keys}) != len(keys):
            return None
        step = self._step_here()
        step.keys = list(keys)
        step.ts = ts
        step.plan = self._plan(keys, ts)
        return self._command(step.plan)

    def took_ahead(self, reply: Any) -> None:
        """The reply to ask_ahead's command."""
        replies = list(reply)
        asked = self._step_here()
        plan = asked.plan
        counts = _sliding(_ints(replies[0::2]), _ints(replies[1::2]), plan)
        asked.ahead = {key: (low, high, step[0][1]) for key, (low, high), step
                       in zip(asked.keys, counts, plan, strict=True)}
        asked.added = {}

    def settle(self) -> None:
        """End of a guard step: take back increments asked ahead that no hit used (the
        check ended on a standing decision before counting), in the next trip."""
        step = self._step_here()
        if not step.ahead:
            return
        undo: list[Command] = []
        for (_, _, amount), (_, _, name) in step.ahead.items():
            if amount:
                undo.append(("INCRBY", name, str(-amount)))
        step.ahead = {}
        step.added = {}
        if undo and self._trips is not None:
            self._trips.later(*undo)

    def _hit_trips(self, trips: Trips, keys: Sequence[tuple[str, int, int]],
                   ts: float) -> list[tuple[float, float]]:
        step = self._step_here()
        ahead = step.ahead
        out: list[tuple[float, float] | None] = []
        missing: list[tuple[str, int, int]] = []
        for key in keys:
            found = ahead.pop(key, None) if ts == step.ts else None
            if found is None:
                missing.append(key)
                out.append(None)
                continue
            low, high = found[0], found[1]
            added = step.added.get((key[0], key[1]))
            if added:  # our own queued counts, not yet sent when these were read
                low, high = low + added % HIGH, high + added // HIGH
            out.append((low, high))
        if missing:
            plan = self._plan(missing, ts)
            replies = trips.run("rate counting", [self._command(plan)])[0]
            fetched = iter(_sliding(_ints(replies[0::2]), _ints(replies[1::2]), plan))
            return [found if found is not None else next(fetched) for found in out]
        return [found for found in out if found is not None]

    def _command(self, plan: list[_Step]) -> Command:
        """The trip's SLIDE step (rempart.guard.redis_trips) for `plan`: its numbers as
        text, as the script hands them to Redis (an amount of 0 or less only reads)."""
        args: list[Any] = ["SLIDE"]
        for entry, expiry, _, amount in plan:
            args += (entry[1], entry[2], expiry, _amount(amount))
        return tuple(args)

    def _plan(self, keys: Sequence[tuple[str, int, int]], ts: float) -> list[_Step]:
        """Each hit's bucket keys in Redis (`limits`' prefix on them: its storage's
        bucket keys), its expiry, the previous bucket's weight, the amount."""
        redis_storage = self._redis
        if redis_storage is None:  # the constructor pairs trips with Redis
            raise TypeError("SlidingWindows: no Redis storage")
        names = self._names
        plan: list[_Step] = []
        for key, window, amount in keys:
            position = ts / window
            bucket = math.floor(position)
            found = names.get((key, window))
            if found is None or found[0] != bucket:
                base = redis_storage.prefixed_key(f"{self._prefix}:{key}:{window}:")
                found = [bucket, base + str(bucket), base + str(bucket - 1)]
                if len(names) >= _NAMES_MAX:
                    names.clear()
                names[(key, window)] = found
            # A bucket expires after two windows and a second.
            plan.append((found, str(2 * window + 1), 1.0 - (position - bucket), amount))
        return plan

    def _trips_or_fail(self) -> Trips:
        if self._trips is None:  # the constructor pairs memory storage with no trips
            raise TypeError("SlidingWindows: no trips")
        return self._trips


def _amount(amount: int) -> str:
    """A SLIDE step's amount as text ("0" only reads)."""
    return str(amount) if amount > 0 else "0"


def _ints(replies: list[Any]) -> list[int]:
    """A SLIDE's counts: integers, or a bucket's text (None: no such bucket yet)."""
    return [int(r) if r is not None else 0 for r in replies]


def _sliding(currents: list[int], previous: list[int],
             plan: list[_Step]) -> list[tuple[float, float]]:
    out = []
    for c, p, step in zip(currents, previous, plan, strict=True):
        weight = step[2]
        out.append(((p % HIGH) * weight + c % HIGH, (p // HIGH) * weight + c // HIGH))
    return out
