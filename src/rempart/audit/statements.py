"""What gets signed: checkpoints over ranges of the chain, and seals over archive files.

A signed statement is its format name, a newline, then canonical JSON (sorted keys, no
spaces) of its fields with hashes in lower-case hex. The same fields plus `format` and a
base64 `signature` make one JSON line of an exported checkpoint file.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, replace
from typing import Any

from rempart.audit.hashing import HASH_BYTES
from rempart.audit.records import canonical_json
from rempart.audit.signing import SigningKey

CHECKPOINT_FORMAT = "rempart-audit-checkpoint/1"
SEAL_FORMAT = "rempart-audit-archive-seal/1"
SIGNATURE_BYTES = 64


@dataclass(frozen=True)
class Checkpoint:
    """A signed Merkle root over positions first..last, and the chain hash at last."""

    number: int
    first: int
    last: int
    root: bytes
    last_entry_hash: bytes
    created_at_us: int
    key_id: str = ""
    signature: bytes = b""

    def _fields(self) -> dict[str, Any]:
        return {
            "number": self.number, "first": self.first, "last": self.last,
            "root": self.root.hex(), "last_entry_hash": self.last_entry_hash.hex(),
            "created_at_us": self.created_at_us, "key_id": self.key_id,
        }

    def statement(self) -> bytes:
        return CHECKPOINT_FORMAT.encode() + b"\n" + canonical_json(self._fields())

    def signed(self, key: SigningKey) -> Checkpoint:
        unsigned = replace(self, key_id=key.key_id, signature=b"")
        return replace(unsigned, signature=key.sign(unsigned.statement()))

    def to_json(self) -> dict[str, Any]:
        return {"format": CHECKPOINT_FORMAT, **self._fields(),
                "signature": base64.b64encode(self.signature).decode()}

    @classmethod
    def from_json(cls, doc: Any) -> Checkpoint:
        """Parse an exported line; ValueError says which field is wrong."""
        if not isinstance(doc, dict) or doc.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"not a {CHECKPOINT_FORMAT} record")
        return cls(
            number=_int(doc, "number"), first=_int(doc, "first"), last=_int(doc, "last"),
            root=_hex32(doc, "root"), last_entry_hash=_hex32(doc, "last_entry_hash"),
            created_at_us=_int(doc, "created_at_us"), key_id=_str(doc, "key_id"),
            signature=_b64(doc, "signature"),
        )

    @classmethod
    def from_row(cls, row: Any) -> Checkpoint:
        """From raw database values (number, first, last, root, last hash, at, key, sig)."""
        number, first, last, root, last_hash, created, key_id, signature = row
        return cls(number=_as_int(number, "number"), first=_as_int(first, "first_position"),
                   last=_as_int(last, "last_position"), root=_as_hash(root, "root"),
                   last_entry_hash=_as_hash(last_hash, "last_entry_hash"),
                   created_at_us=_as_int(created, "created_at_us"),
                   key_id=_as_str(key_id, "key_id"), signature=_as_bytes(signature, "signature"))


@dataclass(frozen=True)
class ArchiveSeal:
    """A signed record that positions first..last were moved to a file with this digest."""

    number: int
    first: int
    last: int
    last_entry_hash: bytes
    file_name: str
    file_sha256: bytes
    created_at_us: int
    key_id: str = ""
    signature: bytes = b""

    def _fields(self) -> dict[str, Any]:
        return {
            "number": self.number, "first": self.first, "last": self.last,
            "last_entry_hash": self.last_entry_hash.hex(), "file_name": self.file_name,
            "file_sha256": self.file_sha256.hex(), "created_at_us": self.created_at_us,
            "key_id": self.key_id,
        }

    def statement(self) -> bytes:
        return SEAL_FORMAT.encode() + b"\n" + canonical_json(self._fields())

    def signed(self, key: SigningKey) -> ArchiveSeal:
        unsigned = replace(self, key_id=key.key_id, signature=b"")
        return replace(unsigned, signature=key.sign(unsigned.statement()))

    def to_json(self) -> dict[str, Any]:
        return {"format": SEAL_FORMAT, **self._fields(),
                "signature": base64.b64encode(self.signature).decode()}

    @classmethod
    def from_json(cls, doc: Any) -> ArchiveSeal:
        if not isinstance(doc, dict) or doc.get("format") != SEAL_FORMAT:
            raise ValueError(f"not a {SEAL_FORMAT} record")
        return cls(
            number=_int(doc, "number"), first=_int(doc, "first"), last=_int(doc, "last"),
            last_entry_hash=_hex32(doc, "last_entry_hash"), file_name=_str(doc, "file_name"),
            file_sha256=_hex32(doc, "file_sha256"), created_at_us=_int(doc, "created_at_us"),
            key_id=_str(doc, "key_id"), signature=_b64(doc, "signature"),
        )

    @classmethod
    def from_row(cls, row: Any) -> ArchiveSeal:
        number, first, last, last_hash, name, digest, created, key_id, signature = row
        return cls(number=_as_int(number, "number"), first=_as_int(first, "first_position"),
                   last=_as_int(last, "last_position"),
                   last_entry_hash=_as_hash(last_hash, "last_entry_hash"),
                   file_name=_as_str(name, "file_name"),
                   file_sha256=_as_hash(digest, "file_sha256"),
                   created_at_us=_as_int(created, "created_at_us"),
                   key_id=_as_str(key_id, "key_id"), signature=_as_bytes(signature, "signature"))


# -- strict field parsing: a wrong type is a reason, never a crash -----------------

def _int(doc: dict[str, Any], key: str) -> int:
    return _as_int(doc.get(key), key)


def _str(doc: dict[str, Any], key: str) -> str:
    return _as_str(doc.get(key), key)


def _hex32(doc: dict[str, Any], key: str) -> bytes:
    value = doc.get(key)
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != HASH_BYTES:
        raise ValueError(f"field '{key}' is not a 32-byte hex hash")
    return raw


def _b64(doc: dict[str, Any], key: str) -> bytes:
    value = doc.get(key)
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != SIGNATURE_BYTES:
        raise ValueError(f"field '{key}' is not a base64 Ed25519 signature")
    return raw


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"field '{name}' is not an integer")
    return value


def _as_str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"field '{name}' is not a string")
    return value


def _as_bytes(value: Any, name: str) -> bytes:
    if isinstance(value, memoryview):
        value = value.tobytes()
    if not isinstance(value, bytes):
        raise ValueError(f"field '{name}' is not binary")
    return value


def _as_hash(value: Any, name: str) -> bytes:
    raw = _as_bytes(value, name)
    if len(raw) != HASH_BYTES:
        raise ValueError(f"field '{name}' is not a 32-byte hash")
    return raw
