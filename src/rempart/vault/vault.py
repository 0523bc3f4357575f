"""Sealing personal fields and computing blind indexes.

A record's personal fields are sealed together with AES-256-GCM under the current key
version; the associated data binds the ciphertext to its row (its kind and a stable
row token), so a ciphertext moved to another row fails to open. Exact-match look-ups
use blind indexes: a truncated HMAC-SHA256 of normalised values, domain-separated by
purpose, under each key version's index key. During a rotation, look-ups compute the
index under every version still in the keyring.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rempart.vault.errors import TamperedCiphertext, VaultError
from rempart.vault.keyring import Keyring

INDEX_BYTES = 16  # 128 bits: no collisions at any population size, half the storage
_NONCE_BYTES = 12
_SEP = "\x1f"


class Vault:
    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._aead = {v: AESGCM(keyring.key(v).encryption_key) for v in keyring.versions}
        self._index_keys = {v: keyring.key(v).index_key for v in keyring.versions}
        # Keyed once per version and copied per use: the import computes millions of indexes.
        self._index_macs = {v: hmac.new(k, digestmod="sha256") for v, k in self._index_keys.items()}

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    @property
    def current_version(self) -> int:
        return self._keyring.current

    def seal(self, fields: Sequence[str], *, kind: bytes, row_token: bytes) -> bytes:
        """Seal fields under the current key; the blob is version-agnostic."""
        for value in fields:
            if _SEP in value:
                raise VaultError("a field contains a control character reserved by the vault")
        nonce = os.urandom(_NONCE_BYTES)
        plaintext = _SEP.join(fields).encode("utf-8")
        aad = kind + b"\x00" + row_token
        return nonce + self._aead[self._keyring.current].encrypt(nonce, plaintext, aad)

    def open(self, blob: bytes, *, version: int, kind: bytes, row_token: bytes) -> list[str]:
        aead = self._aead.get(version)
        if aead is None:
            raise VaultError(f"key version {version} is not in the keyring")
        try:
            plaintext = aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:],
                                     kind + b"\x00" + row_token)
        except InvalidTag:
            raise TamperedCiphertext("sealed value failed authentication") from None
        return plaintext.decode("utf-8").split(_SEP)

    def index(self, purpose: bytes, *parts: str, version: int | None = None) -> bytes:
        """Blind index of normalised parts under one key version (default: current)."""
        mac = self._index_macs[self._keyring.current if version is None else version].copy()
        mac.update(purpose + b"\x00" + _SEP.join(parts).encode("utf-8"))
        return mac.digest()[:INDEX_BYTES]

    def index_candidates(self, purpose: bytes, *parts: str) -> list[bytes]:
        """The index under every readable version, for look-ups during a rotation."""
        return [self.index(purpose, *parts, version=v) for v in self._keyring.versions]
