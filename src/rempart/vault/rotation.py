"""Key-file side of a rotation: add a version, later retire the old ones."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from rempart.vault.errors import KeyringError
from rempart.vault.keyring import ENV_VAR, Keyring


def _require_key_file() -> None:
    if os.environ.get(ENV_VAR):
        raise KeyringError(
            f"the keyring comes from {ENV_VAR}; rotate it in the secret store that provides it"
        )


def add_version(path: Path, *, now: dt.datetime) -> Keyring:
    """Append a new key version and make it current; older versions stay readable."""
    _require_key_file()
    keyring = Keyring.load(path).with_new_version(now)
    keyring.save(path)
    return keyring


def retire_old_versions(path: Path) -> Keyring:
    """Keep only the current version in the key file."""
    _require_key_file()
    keyring = Keyring.load(path)
    retired = keyring.without_versions_except({keyring.current})
    retired.save(path)
    return retired
