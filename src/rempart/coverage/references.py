"""Check and claim references: 128 random bits, base32, unguessable and not sequential."""

from __future__ import annotations

import base64
import re
import secrets

REFERENCE_LENGTH = 26  # 128 bits in base32 without padding
REFERENCE_PATTERN = r"^[A-Z2-7]{26}$"
_REFERENCE_RE = re.compile(REFERENCE_PATTERN)


def new_reference() -> str:
    return base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=")


def is_reference(value: str) -> bool:
    return _REFERENCE_RE.match(value) is not None
