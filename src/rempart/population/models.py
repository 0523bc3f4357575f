"""Tables of the insured population.

Personal fields never appear in clear: a contract's number and a beneficiary's
identity, names, marital status, member number and address are sealed by the vault
(`sealed`, under `key_version`), and exact-match look-ups use blind indexes
(`number_idx`, `member_idx`, `identity_idx`). The holder of a contract is its
beneficiary of rank 1. Amounts are integer cents and rates integer basis points, so
no float or driver-specific decimal ever touches money.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from rempart.storage.base import Base


class Insurer(Base):
    __tablename__ = "insurers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    amc_number: Mapped[str] = mapped_column(String(10), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class Guarantee(Base):
    """What a contract tier pays for one care category over a validity period."""

    __tablename__ = "guarantees"
    __table_args__ = (UniqueConstraint("insurer_id", "tier", "category", "valid_from"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    insurer_id: Mapped[int] = mapped_column(ForeignKey("insurers.id"))
    tier: Mapped[str] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(12))
    rate_bp: Mapped[int | None] = mapped_column(Integer)  # base_share: 10000 = 100 % BR
    amount_cents: Mapped[int | None] = mapped_column(Integer)  # flat amount or ceiling per act
    allowance_cents: Mapped[int | None] = mapped_column(Integer)  # cap per period
    period_months: Mapped[int | None] = mapped_column(SmallInteger)
    third_party: Mapped[bool] = mapped_column(Boolean, default=True)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)


class Contract(Base):
    __tablename__ = "contracts"
    __table_args__ = (
        UniqueConstraint("insurer_id", "number_idx"),
        # What a beneficiary's one foreign key points to (its contract and insurer).
        Index("uq_contracts_id_insurer_id", "id", "insurer_id", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    insurer_id: Mapped[int] = mapped_column(ForeignKey("insurers.id"))
    number_idx: Mapped[bytes] = mapped_column(LargeBinary(16))
    key_version: Mapped[int] = mapped_column(SmallInteger)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    content_mac: Mapped[bytes] = mapped_column(LargeBinary(16))
    tier: Mapped[str] = mapped_column(String(40))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    third_party: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Beneficiary(Base):
    __tablename__ = "beneficiaries"
    __table_args__ = (
        UniqueConstraint("insurer_id", "member_idx"),
        # One key for both references: the contract exists and is the same insurer's
        # (whose own key says the insurer exists); one referential check per row.
        ForeignKeyConstraint(["contract_id", "insurer_id"],
                             ["contracts.id", "contracts.insurer_id"],
                             name="fk_beneficiaries_contract_id_contracts"),
        Index("ix_beneficiaries_identity_idx", "identity_idx"),
        Index("ix_beneficiaries_contract_id", "contract_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    insurer_id: Mapped[int] = mapped_column(Integer)
    contract_id: Mapped[int] = mapped_column(Integer)
    rank: Mapped[int] = mapped_column(SmallInteger)
    member_idx: Mapped[bytes] = mapped_column(LargeBinary(16))
    identity_idx: Mapped[bytes] = mapped_column(LargeBinary(16))
    key_version: Mapped[int] = mapped_column(SmallInteger)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    content_mac: Mapped[bytes] = mapped_column(LargeBinary(16))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
