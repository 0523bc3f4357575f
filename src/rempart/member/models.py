"""Tables of the insured person's view: the insurers' link keys and the short sessions
opened by a verified link.

`insurer_link_keys` holds public keys only (Ed25519, raw 32 bytes): rempart verifies the
links that insurers sign, it never signs them. `member_sessions` maps the hash of a
cookie (never the cookie itself) to the internal id of the person, for a few minutes.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from rempart.auth.models import UtcDateTime
from rempart.storage.base import Base


class InsurerLinkKey(Base):
    __tablename__ = "insurer_link_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(16), unique=True)
    insurer_id: Mapped[int] = mapped_column(ForeignKey("insurers.id"), index=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    added_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class MemberSession(Base):
    __tablename__ = "member_sessions"
    __table_args__ = (Index("ix_member_sessions_expires_at", "expires_at"),)

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    person_id: Mapped[int] = mapped_column(Integer)
    insurer_amc: Mapped[str] = mapped_column(String(10))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
