"""Versioned data keys, kept outside the database.

A keyring is a small JSON document::

    {"format": "rempart-keyring/1", "current": 2,
     "keys": {"1": {"secret": "<base64 32 bytes>", "created": "..."},
              "2": {"secret": "<base64 32 bytes>", "created": "..."}}}

It comes from the environment variable REMPART_KEYRING (the document itself, for a
mounted secret or a secret manager) or from a key file readable by its owner only.
Each version's secret is expanded with HKDF-SHA256 into an AES-256-GCM key and a
separate HMAC key for blind indexes, so the two uses never share a key.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from rempart.vault.errors import KeyringError

FORMAT = "rempart-keyring/1"
ENV_VAR = "REMPART_KEYRING"


@dataclass(frozen=True)
class DataKey:
    version: int
    encryption_key: bytes
    index_key: bytes


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)


class Keyring:
    """The set of key versions; one of them is current and used for new writes."""

    def __init__(self, secrets_by_version: dict[int, bytes], current: int,
                 created: dict[int, str] | None = None) -> None:
        if current not in secrets_by_version:
            raise KeyringError(f"current key version {current} has no secret")
        for version, secret in secrets_by_version.items():
            if len(secret) != 32:
                raise KeyringError(f"key version {version} is not 32 bytes")
        self._secrets = dict(secrets_by_version)
        self._created = dict(created or {})
        self.current = current
        self._keys = {
            version: DataKey(
                version=version,
                encryption_key=_derive(secret, b"rempart/v1/aes-256-gcm"),
                index_key=_derive(secret, b"rempart/v1/blind-index"),
            )
            for version, secret in secrets_by_version.items()
        }

    @classmethod
    def generate(cls, clock_now: dt.datetime | None = None) -> Keyring:
        created = (clock_now or dt.datetime.now(dt.UTC)).isoformat()
        return cls({1: secrets.token_bytes(32)}, 1, {1: created})

    @property
    def versions(self) -> list[int]:
        return sorted(self._keys)

    def key(self, version: int) -> DataKey:
        try:
            return self._keys[version]
        except KeyError:
            raise KeyringError(f"key version {version} is not in the keyring") from None

    def current_key(self) -> DataKey:
        return self._keys[self.current]

    def with_new_version(self, now: dt.datetime) -> Keyring:
        version = max(self._keys) + 1
        secrets_by_version = {**self._secrets, version: secrets.token_bytes(32)}
        return Keyring(secrets_by_version, version, {**self._created, version: now.isoformat()})

    def without_versions_except(self, keep: set[int]) -> Keyring:
        if self.current not in keep:
            raise KeyringError("cannot retire the current key version")
        kept = {v: s for v, s in self._secrets.items() if v in keep}
        return Keyring(kept, self.current, {v: c for v, c in self._created.items() if v in keep})

    # -- serialisation -------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "current": self.current,
                "keys": {
                    str(v): {
                        "secret": base64.b64encode(s).decode(),
                        "created": self._created.get(v, ""),
                    }
                    for v, s in sorted(self._secrets.items())
                },
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str, *, source: str) -> Keyring:
        try:
            doc: Any = json.loads(text)
        except json.JSONDecodeError:
            raise KeyringError(f"{source}: not valid JSON") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise KeyringError(f"{source}: not a {FORMAT} document")
        try:
            keys = {
                int(v): base64.b64decode(entry["secret"], validate=True)
                for v, entry in doc["keys"].items()
            }
            created = {int(v): str(entry.get("created", "")) for v, entry in doc["keys"].items()}
            current = int(doc["current"])
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise KeyringError(f"{source}: malformed key entries") from None
        return cls(keys, current, created)

    def save(self, path: Path) -> None:
        """Write atomically, owner-only, so a crash never leaves half a keyring."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path | None) -> Keyring:
        """From REMPART_KEYRING if set, else from the key file."""
        text = os.environ.get(ENV_VAR)
        if text:
            return cls.from_json(text, source=ENV_VAR)
        if path is None:
            raise KeyringError(f"no key file configured and {ENV_VAR} is not set")
        check_key_file(path)
        return cls.from_json(path.read_text(encoding="utf-8"), source=str(path))


def check_key_file(path: Path) -> None:
    """Refuse a missing key file or one that anyone but its owner could read."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise KeyringError(f"key file {path} does not exist (run `rempart keys init`)") from None
    if not stat.S_ISREG(info.st_mode):
        raise KeyringError(f"key file {path} is not a regular file")
    if info.st_mode & 0o077:
        raise KeyringError(
            f"key file {path} is readable by group or others (mode "
            f"{stat.S_IMODE(info.st_mode):o}); run `chmod 600 {path}`"
        )
