"""Tables of the audit log.

`audit_entries` is the chain itself, one row per position (1, 2, 3, ... without gaps);
`audit_head` is a single row holding the last position and chain hash, updated in the
same transaction as each batch of appends, which is what serialises appends across
processes; `audit_checkpoints` holds the signed Merkle roots over consecutive ranges;
`audit_archives` the signed seals of ranges moved out to archive files. Times are
integer microseconds since the Unix epoch (UTC), exact on every backend and in the
hashed bytes.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rempart.storage.base import Base

# On SQLite an INTEGER PRIMARY KEY is the rowid itself: the fastest ordered key there.
Position = BigInteger().with_variant(Integer(), "sqlite")
HEAD_ROW_ID = 1


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    # No index on subject_id: no query reads entries by person, and a random-keyed index
    # would cost every covered check's commit a page (migration 0007w dropped it).
    __table_args__ = (
        # Breach scoping reads an account's or a session's entries within a window.
        Index("ix_audit_entries_account_id_occurred_at_us", "account_id", "occurred_at_us"),
        Index("ix_audit_entries_session_id_occurred_at_us", "session_id", "occurred_at_us"),
        Index("ix_audit_entries_occurred_at_us", "occurred_at_us"),
    )

    position: Mapped[int] = mapped_column(Position, primary_key=True, autoincrement=False)
    event: Mapped[str] = mapped_column(String(64))
    occurred_at_us: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[int | None] = mapped_column(BigInteger)
    organisation_id: Mapped[int | None] = mapped_column(BigInteger)
    session_id: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[str | None] = mapped_column(String(64))
    client_address: Mapped[str | None] = mapped_column(String(45))
    subject_id: Mapped[int | None] = mapped_column(BigInteger)
    fields: Mapped[str] = mapped_column(Text)  # sorted field names, comma-separated
    detail: Mapped[str] = mapped_column(Text)  # canonical JSON object
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditHead(Base):
    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigInteger)
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    archived_through: Mapped[int] = mapped_column(BigInteger)


class AuditCheckpoint(Base):
    __tablename__ = "audit_checkpoints"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    first_position: Mapped[int] = mapped_column(BigInteger)
    last_position: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    last_entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at_us: Mapped[int] = mapped_column(BigInteger)
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))


class AuditArchive(Base):
    __tablename__ = "audit_archives"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    first_position: Mapped[int] = mapped_column(BigInteger)
    last_position: Mapped[int] = mapped_column(BigInteger)
    last_entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    file_name: Mapped[str] = mapped_column(String(200))
    file_sha256: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at_us: Mapped[int] = mapped_column(BigInteger)
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
