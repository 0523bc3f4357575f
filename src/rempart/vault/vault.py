"""Sealing personal fields and computing blind indexes.

A record's personal fields are sealed together with AES-256-GCM under the current key
version; the associated data binds the ciphertext to its row (its kind and a stable
row token), so a ciphertext moved to another row fails to open. Exact-match look-ups
use blind indexes: a truncated HMAC-SHA256 of normalised values, domain-separated by
purpose, under each key version's index key. During a rotation, look-ups compute the
index under every version still in the keyring.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rempart.vault.errors import TamperedCiphertext, VaultError
from rempart.vault.keyring import Keyring

INDEX_BYTES = 16  # 128 bits: no collisions at any population size, half the storage
_NONCE_BYTES = 12
FIELD_SEPARATOR = "\x1f"  # between the fields of one sealed record: in no field (seal refuses it)
_HMAC_BLOCK = 64  # SHA-256's block size


class _IndexKey:
    """HMAC-SHA256 (RFC 2104) under one key, its two padded key blocks hashed once.

    The same bytes as `hmac.digest(key, message, "sha256")`; copying the two keyed
    SHA-256 states costs half of copying an `hmac` object, and millions of indexes
    are computed per import.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) > _HMAC_BLOCK:  # RFC 2104 would hash it first; data keys are 32 bytes
            raise VaultError("an index key longer than a SHA-256 block is not supported")
        block = key.ljust(_HMAC_BLOCK, b"\x00")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def digests(self, prefix: bytes, messages: Iterable[bytes], size: int) -> list[bytes]:
        """HMAC(prefix + message)[:size] of each message, the prefix hashed once."""
        inner = self._inner.copy()
        inner.update(prefix)
        inner_copy, outer_copy = inner.copy, self._outer.copy
        out = []
        for message in messages:  # one loop, no call per message: millions per import
            state = inner_copy()
            state.update(message)
            outer = outer_copy()
            outer.update(state.digest())
            out.append(outer.digest()[:size])
        return out


class Vault:
    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._aead = {v: AESGCM(keyring.key(v).encryption_key) for v in keyring.versions}
        self._index_keys = {v: _IndexKey(keyring.key(v).index_key) for v in keyring.versions}

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    @property
    def current_version(self) -> int:
        return self._keyring.current

    def seal(self, fields: Sequence[str], *, kind: bytes, row_token: bytes) -> bytes:
        """Seal fields under the current key; the blob is version-agnostic."""
        return self.seal_many([fields], kind=kind, row_tokens=[row_token])[0]

    def seal_many(self, records: Sequence[Sequence[str]], *, kind: bytes,
                  row_tokens: Sequence[bytes]) -> list[bytes]:
        """Seal each record (its fields together) for the row of the same position."""
        if len(records) != len(row_tokens):
            raise VaultError("one row token per sealed record is required")
        encrypt = self._aead[self._keyring.current].encrypt
        nonces = os.urandom(_NONCE_BYTES * len(records))  # one system call for the batch
        prefix = kind + b"\x00"
        sealed = []
        for at, (fields, token) in enumerate(zip(records, row_tokens, strict=True)):
            plaintext = FIELD_SEPARATOR.join(fields)
            if plaintext.count(FIELD_SEPARATOR) != max(len(fields) - 1, 0):
                raise VaultError("a field contains a control character reserved by the vault")
            nonce = nonces[at * _NONCE_BYTES:(at + 1) * _NONCE_BYTES]
            sealed.append(nonce + encrypt(nonce, plaintext.encode("utf-8"), prefix + token))
        return sealed

    def open(self, blob: bytes, *, version: int, kind: bytes, row_token: bytes) -> list[str]:
        aead = self._aead.get(version)
        if aead is None:
            raise VaultError(f"key version {version} is not in the keyring")
        try:
            plaintext = aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:],
                                     kind + b"\x00" + row_token)
        except InvalidTag:
            raise TamperedCiphertext("sealed value failed authentication") from None
        return plaintext.decode("utf-8").split(FIELD_SEPARATOR)

    def index(self, purpose: bytes, *parts: str, version: int | None = None) -> bytes:
        """Blind index of normalised parts under one key version (default: current)."""
        return self.indexes(purpose, [parts], version=version)[0]

    def indexes(self, purpose: bytes, records: Iterable[Sequence[str]],
                version: int | None = None) -> list[bytes]:
        """The blind index of each record's parts, as `index` computes it one by one."""
        key = self._index_keys[self._keyring.current if version is None else version]
        return key.digests(purpose + b"\x00", map(str.encode, map(FIELD_SEPARATOR.join, records)),
                           INDEX_BYTES)

    def index_candidates(self, purpose: bytes, *parts: str) -> list[bytes]:
        """The index under every readable version, for look-ups during a rotation."""
        return [self.index(purpose, *parts, version=v) for v in self._keyring.versions]
