"""Unique NIRs in constant memory.

A NIR is sex, year (two digits), month, birth place (5 characters: département and
commune, or 99 and a country code) and a serial 001-999, followed by its key. Two
persons can only collide inside one bucket (sex, two-digit year, month, département or
country), so one counter per bucket is enough to hand out distinct NIRs: the n-th
person of a bucket gets commune `(n + bucket) mod K` and serial `n // K + 1`, a
bijection onto the bucket's K * 999 slots. The counters are a fixed array sized by the
number of buckets (about 300,000), whatever the size of the population.

The key is computed here from precomputed numbers rather than through
`rempart.core.identifiers.build_nir`, which parses and formats text for every call
(millions of them); the tests check that both always agree.
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from rempart.synth.errors import SynthError

SERIALS = 999
YEARS = 100  # the NIR keeps two digits of the year: 1925 and 2025 share a bucket
MONTHS = 12
NIR_MODULUS = 97
# Corsica counts as 19 (2A) and 18 (2B) in the key.
_CORSICA = {"2A": 19, "2B": 18}
_COMMUNE_SCALE = {2: 1000, 3: 100}  # by prefix length: the place has 5 characters
_TWO = tuple(f"{i:02d}" for i in range(100))
_THREE = tuple(f"{i:03d}" for i in range(1000))


@dataclass(frozen=True, slots=True)
class NirPlace:
    """A birth place: a département (or 99 for abroad) and its run of commune codes.

    `prefix` is "75", "2A", "971" or "99"; the commune code fills the place up to five
    characters (3 digits, or 2 after a 3-character overseas prefix).
    """

    prefix: str
    first: int  # first commune code (for abroad: the country code)
    count: int  # number of commune codes

    def __post_init__(self) -> None:
        if len(self.prefix) not in _COMMUNE_SCALE or self.count < 1 or self.first < 0:
            raise ValueError("a NIR place has a 2 or 3 character prefix and communes")
        if self.first + self.count > _COMMUNE_SCALE[len(self.prefix)]:
            raise ValueError("commune codes do not fit the NIR place")

    @property
    def base(self) -> int:
        """The place's numeric value, as the key sees it, without the commune."""
        number = _CORSICA.get(self.prefix) or int(self.prefix)
        return number * _COMMUNE_SCALE[len(self.prefix)]


def overlapping(places: Sequence[NirPlace]) -> bool:
    """Whether two places share a prefix and some commune codes (their NIRs would clash)."""
    runs = sorted((p.prefix, p.first, p.first + p.count) for p in places)
    return any(a[0] == b[0] and b[1] < a[2] for a, b in itertools.pairwise(runs))


class NirAllocator:
    def __init__(self, places: Sequence[NirPlace]) -> None:
        if not places:
            raise ValueError("at least one birth place is needed")
        if overlapping(places):
            raise ValueError("birth places overlap: one commune code would be handed out "
                             "by two places")
        self._prefixes = tuple(p.prefix for p in places)
        self._digits = tuple(_TWO if len(p.prefix) == 3 else _THREE for p in places)
        self._bases = tuple(p.base for p in places)
        self._firsts = tuple(p.first for p in places)
        self._widths = tuple(p.count for p in places)
        self._count = len(places)
        self._used = array("I", bytes(4 * 2 * YEARS * MONTHS * self._count))

    def allocate(self, sex: int, year: int, month: int, place: int) -> str:
        """A NIR never handed out before for this sex, year, month and birth place.

        When the birth place is full (it takes K * 999 births of one sex in one month),
        a following place is used instead: the NIR stays consistent with sex and date.
        """
        yy = year % YEARS
        row = (((sex - 1) * YEARS + yy) * MONTHS + month - 1) * self._count
        bucket = row + place
        n = self._used[bucket]
        width = self._widths[place]
        if n >= width * SERIALS:
            return self._spill(sex, yy, month, row, place)
        self._used[bucket] = n + 1
        commune = self._firsts[place] + (n + bucket) % width
        serial = n // width + 1
        value = (((sex * 100 + yy) * 100 + month) * 100_000
                 + self._bases[place] + commune) * 1000 + serial
        return (f"{sex}{_TWO[yy]}{_TWO[month]}{self._prefixes[place]}"
                f"{self._digits[place][commune]}{_THREE[serial]}"
                f"{_TWO[NIR_MODULUS - value % NIR_MODULUS]}")

    def _spill(self, sex: int, yy: int, month: int, row: int, place: int) -> str:
        for attempt in range(1, self._count):
            index = (place + attempt) % self._count
            if self._used[row + index] < self._widths[index] * SERIALS:
                # The century is irrelevant to the bucket: only yy enters the NIR.
                return self.allocate(sex, yy, month, index)
        raise SynthError("no NIR left for a birth month: the population is too large")
