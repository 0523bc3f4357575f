"""The vault: the only place that touches data keys, ciphertext and blind indexes."""

from rempart.vault.errors import KeyringError, TamperedCiphertext, VaultError
from rempart.vault.keyring import Keyring
from rempart.vault.vault import Vault

__all__ = ["Keyring", "KeyringError", "TamperedCiphertext", "Vault", "VaultError"]
