"""The insurers' public keys for member links: add, list, revoke, find.

rempart stores public keys only. A key belongs to one insurer; a link must be signed by
a key of the insurer it names, and a revoked key signs nothing any more. Adding and
revoking a key are configuration changes: each is written to the audit log in the same
transaction (fail closed: no key without its audit entry).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from rempart.audit import AuditLog
from rempart.clock import Clock
from rempart.member.errors import InsurerKeyError
from rempart.member.models import InsurerLinkKey
from rempart.population.models import Insurer

MAX_PEM_BYTES = 4096


@dataclass(frozen=True, slots=True)
class LinkKeyInfo:
    key_id: str
    insurer_amc: str
    added_at: dt.datetime
    revoked_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ActiveLinkKey:
    key_id: str
    insurer_amc: str
    public_key: bytes  # raw Ed25519, 32 bytes


def key_id_of(raw_public_key: bytes) -> str:
    """16 hex digits of SHA-256 over the raw public key (as for the audit signing keys)."""
    return hashlib.sha256(raw_public_key).hexdigest()[:16]


def raw_public_key(pem: bytes) -> bytes:
    """The raw 32 bytes of a PEM Ed25519 public key, or InsurerKeyError saying why not."""
    if len(pem) > MAX_PEM_BYTES:
        raise InsurerKeyError("the key file is too large to be a PEM public key")
    if b"PRIVATE KEY" in pem:
        raise InsurerKeyError("the file holds a private key: give rempart the insurer's "
                              "public key only, and keep the private key at the insurer")
    try:
        key = load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InsurerKeyError("the file is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InsurerKeyError("the key is not an Ed25519 public key")
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _audited(amc: str, key_id: str) -> dict[str, str]:
    # The first 12 hex digits: a whole key id can hold a run of 13 decimal digits, which
    # the audit log refuses (it could be a NIR); 48 bits still name the key.
    return {"amc": amc, "key_id_prefix": key_id[:12]}


class InsurerKeys:
    def __init__(self, *, engine: Engine, clock: Clock, audit: AuditLog) -> None:
        self._engine = engine
        self._clock = clock
        self._audit = audit

    def add(self, *, amc: str, public_key_pem: bytes) -> str:
        """Register a public key for the insurer; returns its key id."""
        raw = raw_public_key(public_key_pem)
        key_id = key_id_of(raw)
        now = self._clock.now()
        try:
            with self._engine.begin() as conn:
                insurer_id = conn.execute(select(Insurer.id).where(
                    Insurer.amc_number == amc)).scalar_one_or_none()
                if insurer_id is None:
                    raise InsurerKeyError(f"no insurer with AMC number {amc!r:.14}")
                conn.execute(insert(InsurerLinkKey).values(
                    key_id=key_id, insurer_id=insurer_id, public_key=raw, added_at=now))
                self._audit.append_in_transaction(conn, [self._audit.record(
                    event="config.insurer_key_added", detail=_audited(amc, key_id))])
        except IntegrityError:
            raise InsurerKeyError(f"key {key_id} is already registered") from None
        return key_id

    def revoke(self, *, key_id: str) -> None:
        """Stop accepting links signed by this key (links already used stay in the log)."""
        now = self._clock.now()
        with self._engine.begin() as conn:
            row = conn.execute(select(InsurerLinkKey.id, InsurerLinkKey.revoked_at,
                                      Insurer.amc_number)
                               .join(Insurer, Insurer.id == InsurerLinkKey.insurer_id)
                               .where(InsurerLinkKey.key_id == key_id)).one_or_none()
            if row is None:
                raise InsurerKeyError(f"no key with id {key_id!r:.20}")
            if row[1] is not None:
                raise InsurerKeyError(f"key {key_id} is already revoked")
            conn.execute(update(InsurerLinkKey).where(InsurerLinkKey.id == row[0])
                         .values(revoked_at=now))
            self._audit.append_in_transaction(conn, [self._audit.record(
                event="config.insurer_key_revoked", detail=_audited(row[2], key_id))])

    def list(self, *, amc: str | None = None) -> list[LinkKeyInfo]:
        query = (select(InsurerLinkKey.key_id, Insurer.amc_number, InsurerLinkKey.added_at,
                        InsurerLinkKey.revoked_at)
                 .join(Insurer, Insurer.id == InsurerLinkKey.insurer_id)
                 .order_by(Insurer.amc_number, InsurerLinkKey.added_at))
        if amc is not None:
            query = query.where(Insurer.amc_number == amc)
        with self._engine.connect() as conn:
            return [LinkKeyInfo(key_id=r[0], insurer_amc=r[1], added_at=r[2], revoked_at=r[3])
                    for r in conn.execute(query).all()]

    def find(self, key_id: str) -> ActiveLinkKey | None:
        """The key with this id if it is registered and not revoked."""
        with self._engine.connect() as conn:
            row = conn.execute(select(InsurerLinkKey.public_key, Insurer.amc_number)
                               .join(Insurer, Insurer.id == InsurerLinkKey.insurer_id)
                               .where(InsurerLinkKey.key_id == key_id,
                                      InsurerLinkKey.revoked_at.is_(None))).one_or_none()
        if row is None:
            return None
        return ActiveLinkKey(key_id=key_id, insurer_amc=row[1], public_key=bytes(row[0]))
