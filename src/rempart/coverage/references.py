"""Check and claim references: 26 characters of [A-Z2-7], unguessable, in time order.

A reference is 130 bits: the creation time in milliseconds (48 bits) followed by 82
random bits. The random part makes a reference unguessable (a provider who knows when a
check was made still faces 2**82 possibilities); the time part makes references grow,
so the unique index on references is appended to rather than written at a random page
(a random-keyed index dirties a different page of a large table for every check, which
SQLite then writes to the WAL and again at checkpoint: docs/performance.md). The time
it tells is the check's own time, which its answer already carries.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets

REFERENCE_LENGTH = 26  # 130 bits, 5 per character
REFERENCE_PATTERN = r"^[A-Z2-7]{26}$"
_REFERENCE_RE = re.compile(REFERENCE_PATTERN)
_LONG_DIGITS = re.compile(r"\d{13}")
# RFC 4648's base32 characters, in ASCII order: references then sort as their values do.
_ALPHABET = "234567ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits at a time
_RANDOM_BITS = 82
_TIME_MASK = (1 << 48) - 1
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MILLISECOND = dt.timedelta(milliseconds=1)


def new_reference(*, at: dt.datetime) -> str:
    """A new reference for something made at `at` (the injectable clock's time)."""
    milliseconds = (at - _EPOCH) // _MILLISECOND
    while True:
        reference = _encode((milliseconds & _TIME_MASK) << _RANDOM_BITS
                            | secrets.randbits(_RANDOM_BITS))
        # Now and then 13 digits in a row: the audit log refuses those in an entry (they
        # could be a NIR), and a reference goes in every entry.
        if not _LONG_DIGITS.search(reference):
            return reference


def is_reference(value: str) -> bool:
    return _REFERENCE_RE.match(value) is not None


def _encode(value: int) -> str:
    """130 bits as 26 characters, most significant first (so they sort in order)."""
    pairs = _PAIRS
    return "".join([pairs[(value >> shift) & 1023] for shift in range(120, -1, -10)])
