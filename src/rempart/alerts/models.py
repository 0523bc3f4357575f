"""The alerts table: what the security team must look at, with internal ids only.

An alert names accounts, organisations, sessions and check references (which the
operator already knows), an action and reasons; never a patient, a NIR or a name.
Account and organisation ids are text because the guard's ids may be either kind.
`alert_outbox` holds each alert's delivery to the operator's webhook (rempart.alerts.outbox).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rempart.auth.models import UtcDateTime
from rempart.storage.base import Base


class AlertRow(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_account_id_created_at", "account_id", "created_at"),
        Index("ix_alerts_session_id_created_at", "session_id", "created_at"),
        Index("ix_alerts_check_reference", "check_reference"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "guard", "member_report", "clock" or "shared_network"
    source: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(10))
    action: Mapped[str | None] = mapped_column(String(20))
    account_id: Mapped[str | None] = mapped_column(String(64))
    organisation_id: Mapped[str | None] = mapped_column(String(64))
    # An API key's guard session is `api:<client id>|jkt:<thumbprint>` (86 characters).
    session_id: Mapped[str | None] = mapped_column(String(160))
    channel: Mapped[str | None] = mapped_column(String(10))
    score: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[str] = mapped_column(Text)  # JSON list of sentences
    check_reference: Mapped[str | None] = mapped_column(String(32))
    # A listed shared network's label (source "shared_network", rempart.guard.netwatch).
    network: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # Set when an operator closes the alert in the security console (who: an account id).
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    resolved_by: Mapped[int | None] = mapped_column(BigInteger)


class AlertOutboxRow(Base):
    """One alert waiting for the webhook: written in the alert's own transaction, so an
    alert stored is an alert that will be delivered, whatever happens to the process."""

    __tablename__ = "alert_outbox"
    __table_args__ = (Index("ix_alert_outbox_delivered_at_next_attempt_at",
                            "delivered_at", "next_attempt_at"),)

    alert_id: Mapped[int] = mapped_column(Integer, ForeignKey("alerts.id"), primary_key=True,
                                          autoincrement=False)
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(80))
