"""Random tokens, their stored hashes, and the sealed fields of accounts.

Every bearer value (session id, binding secret, device token, invitation token,
ceremony id, recovery code, client secret) is 128 bits or more from `secrets` and is
stored only as its SHA-256: those values are already unguessable, so a slow hash
would add cost without adding safety. A login is found through a vault blind index
of its normalised form; the e-mail address and display name are sealed.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from rempart.vault import Vault

TOKEN_BYTES = 32  # 256 bits, above the 128-bit minimum for session identifiers
ACCOUNT_KIND = b"account"
INVITATION_KIND = b"invitation"
LOGIN_PURPOSE = b"account:login"


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def new_public_id() -> str:
    return secrets.token_hex(16)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def normalise_login(login: str) -> str:
    """Logins are e-mail addresses, compared without case or surrounding spaces."""
    return login.strip().lower()


def login_index(vault: Vault, login: str, version: int | None = None) -> bytes:
    return vault.index(LOGIN_PURPOSE, normalise_login(login), version=version)


def login_candidates(vault: Vault, login: str) -> list[bytes]:
    return vault.index_candidates(LOGIN_PURPOSE, normalise_login(login))


@dataclass(frozen=True, slots=True)
class ContactFields:
    """The personal fields of an account or invitation, sealed together."""

    email: str
    display_name: str


def seal_contact(vault: Vault, contact: ContactFields, *, kind: bytes, public_id: str) -> bytes:
    return vault.seal([contact.email, contact.display_name], kind=kind,
                      row_token=public_id.encode())


def open_contact(vault: Vault, blob: bytes, *, version: int, kind: bytes,
                 public_id: str) -> ContactFields:
    email, display_name = vault.open(blob, version=version, kind=kind,
                                     row_token=public_id.encode())
    return ContactFields(email=email, display_name=display_name)
