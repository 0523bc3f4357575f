"""Weighted random choice over a fixed table: cumulative weights and a binary search.

Built once, picked from millions of times, so the per-pick cost is one `random()` and
one `bisect` with no allocation.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class Weighted(Generic[T]):
    __slots__ = ("_cum", "_total", "items")

    def __init__(self, pairs: Iterable[tuple[T, float]]) -> None:
        items: list[T] = []
        cum: list[float] = []
        total = 0.0
        for item, weight in pairs:
            if weight < 0:
                raise ValueError("weights must not be negative")
            if weight == 0:
                continue
            total += weight
            items.append(item)
            cum.append(total)
        if not items:
            raise ValueError("a weighted table needs at least one positive weight")
        self.items: tuple[T, ...] = tuple(items)
        self._cum = cum
        self._total = total

    def pick(self, rng: random.Random) -> T:
        return self.items[bisect_right(self._cum, rng.random() * self._total)]

    def __len__(self) -> int:
        return len(self.items)

    def sampler(self, rng: random.Random) -> Callable[[], T]:
        """`pick` as a closure bound to `rng`: the fastest form for hot loops."""
        items, cum, total, draw = self.items, self._cum, self._total, rng.random

        def pick() -> T:
            return items[bisect_right(cum, draw() * total)]

        return pick
