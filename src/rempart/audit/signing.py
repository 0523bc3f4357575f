"""The Ed25519 key that signs checkpoints and archive seals, kept outside the database.

The private key comes from the environment variable REMPART_AUDIT_SIGNING_KEY (PEM
text, for a mounted secret or a secret manager) or from a PKCS#8 PEM key file readable
by its owner only (checked like the data keyring). Verification needs only public
keys: a key id is the first 16 hex digits of SHA-256 over the raw 32-byte public key.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from rempart.audit.errors import SigningKeyError
from rempart.vault.errors import KeyringError
from rempart.vault.keyring import check_key_file

KEY_ENV_VAR = "REMPART_AUDIT_SIGNING_KEY"


def key_id_for(raw_public: bytes) -> str:
    return hashlib.sha256(raw_public).hexdigest()[:16]


class VerifyKey:
    """A public key that checkpoint signatures are checked against."""

    def __init__(self, public: Ed25519PublicKey) -> None:
        self._public = public
        self.raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = key_id_for(self.raw)

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self._public.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def to_pem(self) -> bytes:
        return self._public.public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)

    @classmethod
    def load(cls, path: Path) -> VerifyKey:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SigningKeyError(f"public key file {path} cannot be read "
                                  f"({exc.strerror})") from None
        try:
            public = serialization.load_pem_public_key(data)
        except (ValueError, TypeError):
            raise SigningKeyError(f"public key file {path} is not a PEM public key") from None
        if not isinstance(public, Ed25519PublicKey):
            raise SigningKeyError(f"public key file {path} is not an Ed25519 key")
        return cls(public)


class SigningKey:
    """The private checkpoint key. Never stored in, nor derived from, the database."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.verify_key = VerifyKey(private.public_key())

    @property
    def key_id(self) -> str:
        return self.verify_key.key_id

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def to_pem(self) -> bytes:
        return self._private.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption())

    @classmethod
    def from_pem(cls, data: bytes, *, source: str) -> SigningKey:
        try:
            private = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise SigningKeyError(f"{source}: not an unencrypted PEM private key") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise SigningKeyError(f"{source}: not an Ed25519 key")
        return cls(private)

    @classmethod
    def load(cls, path: Path | None) -> SigningKey:
        """From REMPART_AUDIT_SIGNING_KEY if set, else from the owner-only key file."""
        text = os.environ.get(KEY_ENV_VAR)
        if text:
            return cls.from_pem(text.encode("utf-8"), source=KEY_ENV_VAR)
        if path is None:
            raise SigningKeyError(f"no audit signing key file configured and {KEY_ENV_VAR} "
                                  "is not set")
        if not path.exists():
            raise SigningKeyError(f"audit signing key {path} does not exist "
                                  "(run `rempart audit keygen`)")
        try:
            check_key_file(path)
        except KeyringError as exc:
            raise SigningKeyError(str(exc)) from None
        return cls.from_pem(path.read_bytes(), source=str(path))

    def save(self, path: Path) -> None:
        """Create the key file owner-only; never overwrite an existing key."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise SigningKeyError(f"audit signing key {path} already exists") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(self.to_pem())
            handle.flush()
            os.fsync(handle.fileno())


def public_key_path(key_path: Path) -> Path:
    """Where the public half of a signing key file is kept, for whoever verifies the log."""
    return key_path.with_name(key_path.name + ".pub")


def create_signing_key(key_path: Path) -> SigningKey:
    """Generate a key, save it owner-only (never over an existing one) and its public key."""
    key = SigningKey.generate()
    key.save(key_path)
    public_key_path(key_path).write_bytes(key.verify_key.to_pem())
    return key


class TrustedKeys:
    """The public keys whose signatures verify, by key id."""

    def __init__(self, keys: Iterable[VerifyKey]) -> None:
        self._keys = {key.key_id: key for key in keys}
        if not self._keys:
            raise SigningKeyError("no public key to verify checkpoint signatures with")

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._keys)

    def problem_with(self, key_id: str, message: bytes, signature: bytes) -> str | None:
        """None when the signature verifies, else why not (for a report)."""
        key = self._keys.get(key_id)
        if key is None:
            return "is signed by an unknown key"
        if not key.verify(message, signature):
            return "has an invalid signature (forged or altered)"
        return None
