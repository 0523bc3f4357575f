"""Check and claim references: 128 random bits, base32, unguessable and not sequential."""

from __future__ import annotations

import base64
import re
import secrets

REFERENCE_LENGTH = 26  # 128 bits in base32 without padding
REFERENCE_PATTERN = r"^[A-Z2-7]{26}$"
_REFERENCE_RE = re.compile(REFERENCE_PATTERN)
_LONG_DIGITS = re.compile(r"\d{13}")


def new_reference() -> str:
    while True:
        reference = base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=")
        # About once in 200 million draws, 13 digits in a row: the audit log refuses
        # those in an entry (they could be a NIR), and a reference goes in every entry.
        if not _LONG_DIGITS.search(reference):
            return reference


def is_reference(value: str) -> bool:
    return _REFERENCE_RE.match(value) is not None
