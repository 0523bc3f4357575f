"""Vault errors. Messages name files and versions, never key material or plaintext."""

from __future__ import annotations

from rempart.core.errors import RempartError


class VaultError(RempartError):
    """Base of vault errors."""


class KeyringError(VaultError):
    """The keyring is missing, unreadable, malformed or too widely readable."""


class TamperedCiphertext(VaultError):
    """A sealed value failed authentication: wrong key, wrong row or altered bytes."""
