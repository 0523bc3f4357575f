"""The disclosures table: one row per answer that reached a provider."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from rempart.storage.base import Base


class DisclosureRow(Base):
    __tablename__ = "disclosures"
    __table_args__ = (
        Index("ix_disclosures_person_id", "person_id"),
        Index("ix_disclosures_session_id", "session_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    event: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[int | None] = mapped_column(Integer)
    organisation_id: Mapped[int] = mapped_column(Integer)
    professional_id: Mapped[int | None] = mapped_column(Integer)
    session_id: Mapped[str | None] = mapped_column(String(64))
    client_address: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[str | None] = mapped_column(String(64))
    person_id: Mapped[int | None] = mapped_column(Integer)
    fields: Mapped[str] = mapped_column(String(400))  # field names, comma-separated
    reference: Mapped[str | None] = mapped_column(String(32))
