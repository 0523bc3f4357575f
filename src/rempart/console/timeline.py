"""An account's timeline for the security console: its audit entries and its alerts,
newest first.

Entries show what the audit log holds about the account's own actions (event, time,
session, address, which fields were disclosed), never whom a disclosure concerned: the
console contains an account, it does not browse persons.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, select

from rempart.alerts.store import StoredAlert
from rempart.audit.models import AuditEntry
from rempart.audit.records import from_micros

DEFAULT_LIMIT = 200


@dataclass(frozen=True, slots=True)
class TimelineItem:
    at: dt.datetime
    event: str
    session_id: str | None = None
    address: str | None = None
    fields: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    alert_id: int | None = None


def audit_items(engine: Engine, account_id: int, *, limit: int = DEFAULT_LIMIT,
                ) -> list[TimelineItem]:
    query = (select(AuditEntry.occurred_at_us, AuditEntry.event, AuditEntry.session_id,
                    AuditEntry.client_address, AuditEntry.fields)
             .where(AuditEntry.account_id == account_id)
             .order_by(AuditEntry.account_id, AuditEntry.occurred_at_us.desc()).limit(limit))
    with engine.connect() as conn:
        return [TimelineItem(at=from_micros(at), event=event, session_id=session,
                             address=address,
                             fields=tuple(f for f in (fields or "").split(",") if f))
                for at, event, session, address, fields in conn.execute(query).all()]


def alert_items(alerts: list[StoredAlert]) -> list[TimelineItem]:
    return [TimelineItem(at=a.created_at, event=f"alert.{a.source.value}",
                         session_id=a.session_id, reasons=a.reasons, alert_id=a.id)
            for a in alerts]


def merged(*groups: list[TimelineItem], limit: int = DEFAULT_LIMIT) -> list[TimelineItem]:
    items = [item for group in groups for item in group]
    items.sort(key=lambda item: item.at, reverse=True)
    return items[:limit]
