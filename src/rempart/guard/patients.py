"""Which patients an account has seen: a fixed-size Bloom filter per account.

A pharmacy sees thousands of distinct people a year; keeping their keys would grow
without bound. A Bloom filter of 2^15 bits per half-year generation (4 KiB), two
generations kept, answers "seen before?" with about 3 % false "yes" at 4,000
patients — a false "yes" only makes a new patient look recurring, never the reverse.
Only bits derived from the opaque person key are stored, never the key itself.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

FILTER_BITS = 1 << 15
FILTER_BYTES = FILTER_BITS // 8
GENERATION_S = 182 * 86400
# Set bits kept as a tuple before a generation becomes a bitmap (see PatientFilter).
SPARSE_BITS = 24


_BLAKE2B_16 = hashlib.blake2b(digest_size=16)


@lru_cache(maxsize=8192)
def positions(account_id: str, person_key: str) -> tuple[int, ...]:
    """The filter bits for a person in an account (double hashing over one digest)."""
    h = _BLAKE2B_16.copy()  # as blake2b(..., digest_size=16), without its set-up per person
    h.update(f"{account_id}\x1f{person_key}".encode())
    digest = h.digest()
    h1 = int.from_bytes(digest[:8], "little")
    h2 = int.from_bytes(digest[8:], "little") | 1
    # Three bits, written out: a generator's frame per new patient cost more.
    return (h1 % FILTER_BITS, (h1 + h2) % FILTER_BITS, (h1 + 2 * h2) % FILTER_BITS)


def generation(ts: float) -> int:
    return int(ts // GENERATION_S)


class PatientFilter:
    """The current and previous generations of one account's filter, in memory.

    A generation starts as a tuple of its set bits and becomes the 4 KiB bitmap once it
    holds more than SPARSE_BITS: most accounts a server sees in a day check a handful
    of patients, and a page per account would be allocated (and zeroed) for them. Both
    forms answer alike: a person was seen if all its bits are set."""

    __slots__ = ("generations",)

    def __init__(self) -> None:
        self.generations: dict[int, bytearray | tuple[int, ...]] = {}

    def seen(self, bits: tuple[int, ...], gen: int) -> bool:
        for g in (gen, gen - 1):
            array = self.generations.get(g)
            if array is None:
                continue
            # Loops, not all() over a generator: one Python frame fewer per generation.
            if isinstance(array, tuple):
                for b in bits:
                    if b not in array:
                        break
                else:
                    return True
            else:
                for b in bits:
                    if not array[b >> 3] & (1 << (b & 7)):
                        break
                else:
                    return True
        return False

    def add(self, bits: tuple[int, ...], gen: int) -> None:
        array = self.generations.get(gen)
        if array is None:
            array = ()
            for old in [g for g in self.generations if g < gen - 1]:
                del self.generations[old]
        if isinstance(array, tuple):
            sparse = array + tuple([b for b in bits if b not in array])
            if len(sparse) <= SPARSE_BITS:
                self.generations[gen] = sparse
                return
            array = self.generations[gen] = bytearray(FILTER_BYTES)
            bits = sparse
        for b in bits:
            array[b >> 3] |= 1 << (b & 7)


# An account's memory of patients in state.MemoryGuardState: while it holds one
# generation of at most SPARSE_BITS bits (most accounts a server sees in a day: a handful
# of patients), just that generation and its bits, a tuple of numbers the cyclic
# collector stops tracking; a PatientFilter from then on. Both answer alike.
Patients = PatientFilter | tuple[int, tuple[int, ...]]


def seen_in(found: Patients, bits: tuple[int, ...], gen: int) -> bool:
    if not isinstance(found, tuple):
        return found.seen(bits, gen)
    held_gen, held = found
    if held_gen != gen and held_gen != gen - 1:
        return False
    for b in bits:  # noqa: SIM110 - a loop: all() over a generator costs a frame per call
        if b not in held:
            return False
    return True


def added(found: Patients | None, bits: tuple[int, ...], gen: int) -> Patients:
    """`found` with the person's bits added (a new value, or `found` changed in place)."""
    if found is None:
        # What PatientFilter.add keeps in an empty filter's first generation.
        first = tuple(bits)
        if len(first) <= SPARSE_BITS:
            return (gen, first)
        found = PatientFilter()
    elif isinstance(found, tuple):
        held_gen, held = found
        if held_gen == gen:
            sparse = held + tuple([b for b in bits if b not in held])
            if len(sparse) <= SPARSE_BITS:
                return (gen, sparse)
        found = PatientFilter()
        found.generations[held_gen] = held
    found.add(bits, gen)
    return found
