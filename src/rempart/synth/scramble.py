"""Unique, non-sequential numbers from a counter.

`n -> (n * multiplier + offset) mod modulus` is a bijection on [0, modulus) whenever the
multiplier is coprime to the modulus, so a plain counter yields numbers that never repeat
and do not read as a sequence, with no memory of the numbers already given out.
"""

from __future__ import annotations

import math

from rempart.synth.errors import SynthError


class Scrambler:
    __slots__ = ("_count", "_modulus", "_multiplier", "_offset", "name")

    def __init__(self, *, name: str, modulus: int, multiplier: int, offset: int) -> None:
        if math.gcd(multiplier, modulus) != 1:
            raise ValueError("multiplier must be coprime to the modulus")
        self.name = name
        self._modulus = modulus
        self._multiplier = multiplier
        self._offset = offset % modulus
        self._count = 0

    def next(self) -> int:
        if self._count >= self._modulus:
            raise SynthError(f"{self.name}: all {self._modulus} numbers are used")
        value = (self._count * self._multiplier + self._offset) % self._modulus
        self._count += 1
        return value

    @property
    def issued(self) -> int:
        return self._count
