"""Tables of checks and claims.

A check row holds no personal data: the beneficiary appears by internal id only, and
only when every identifier matched. `outcome` keeps the internal reason of a negative
answer (for the exfiltration guard and investigations); it never leaves the server.

Checks and claims are records of what happened: they keep the beneficiary's and the
guarantee's ids without a foreign key, so that a population file that later removes a
row does not have to rewrite history (and a check costs the same whether or not it
names a beneficiary).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from rempart.storage.base import Base


class Check(Base):
    __tablename__ = "checks"
    __table_args__ = (
        Index("ix_checks_organisation_id_id", "organisation_id", "id"),
        Index("ix_checks_beneficiary_id", "beneficiary_id"),  # a person's own history
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    account_id: Mapped[int | None] = mapped_column(Integer)
    professional_id: Mapped[int | None] = mapped_column(Integer)
    beneficiary_id: Mapped[int | None] = mapped_column(Integer)
    guarantee_id: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(20))
    care_date: Mapped[dt.date] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(24))
    covered: Mapped[bool] = mapped_column(Boolean)
    third_party: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Claim(Base):
    __tablename__ = "claims"
    __table_args__ = (
        Index("ix_claims_organisation_id_id", "organisation_id", "id"),
        Index("ix_claims_check_id", "check_id"),
        Index("ix_claims_beneficiary_id_category_care_date",
              "beneficiary_id", "category", "care_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("checks.id"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    account_id: Mapped[int | None] = mapped_column(Integer)
    beneficiary_id: Mapped[int | None] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(20))
    care_date: Mapped[dt.date] = mapped_column(Date)
    billed_cents: Mapped[int] = mapped_column(Integer)
    base_tariff_cents: Mapped[int] = mapped_column(Integer)
    amo_rate_bp: Mapped[int] = mapped_column(Integer)
    amo_cents: Mapped[int] = mapped_column(Integer)
    amc_cents: Mapped[int] = mapped_column(Integer)
    patient_cents: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(40))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
