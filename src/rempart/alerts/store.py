"""Storing alerts: the guard's AlertSink backed by the alerts table, and the queries the
operator's tools need (the first alert on some accounts, the open alerts, an account's
alerts, closing one).

Each alert row is written together with an audit entry (`guard.alert`), the entry last
in the transaction so that the audit head is held only for the commit, and with its row
in the webhook outbox (rempart.alerts.outbox): stored first, delivered after. A clock
jump (rempart.guard.clockwatch) is an alert of its own source, naming no one; a clock
set back also moves the deliveries waiting back by the jump in its transaction
(shift_pending), so that none waits the jump longer than its retry delay. An alert
about a listed shared network (rempart.guard.netwatch) names the network by its label
(column `network`) and no account.
"""

from __future__ import annotations

import datetime as dt
import enum
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from sqlalchemy import Connection, Engine, func, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session as DbSession

from rempart.alerts.models import AlertOutboxRow, AlertRow
from rempart.audit import AuditError, AuditLog, AuditRecord
from rempart.audit.records import TOKEN_PATTERN
from rempart.guard.alerts import Alert, ClockJump, NetworkAlert
from rempart.observability import metrics

log = structlog.get_logger(__name__)
MAX_PENDING = 10_000  # alerts kept in memory while the database cannot take them


class AlertSource(enum.StrEnum):
    GUARD = "guard"
    MEMBER_REPORT = "member_report"
    CLOCK = "clock"
    SHARED_NETWORK = "shared_network"


@dataclass(frozen=True, slots=True)
class StoredAlert:
    id: int
    source: AlertSource
    severity: str
    action: str | None
    account_id: str | None
    organisation_id: str | None
    session_id: str | None
    channel: str | None
    score: float | None
    reasons: tuple[str, ...]
    check_reference: str | None
    created_at: dt.datetime
    resolved_at: dt.datetime | None = None
    resolved_by: int | None = None
    network: str | None = None


_INSERT = insert(AlertRow).returning(AlertRow.id)
_ENQUEUE = insert(AlertOutboxRow)


class AlertStore:
    def __init__(self, *, engine: Engine) -> None:
        self._engine = engine

    @staticmethod
    def insert(conn: Connection, *, source: AlertSource, severity: str, created_at: dt.datetime,
               reasons: Sequence[str], action: str | None = None,
               account_id: int | str | None = None, organisation_id: int | str | None = None,
               session_id: str | None = None, channel: str | None = None,
               score: float | None = None, check_reference: str | None = None,
               network: str | None = None) -> int:
        """Write an alert and queue it for the webhook, in the caller's transaction."""
        alert_id: int = conn.execute(_INSERT, {
            "source": source.value, "severity": severity, "action": action,
            "account_id": _text_id(account_id), "organisation_id": _text_id(organisation_id),
            "session_id": session_id, "channel": channel, "score": score,
            "reasons": orjson.dumps(list(reasons)).decode(), "check_reference": check_reference,
            "created_at": created_at, "network": None if network is None else network[:64],
        }).scalar_one()
        conn.execute(_ENQUEUE, {"alert_id": alert_id, "attempts": 0,
                                "next_attempt_at": created_at, "delivered_at": None,
                                "last_error": None})
        metrics.record_alert_on_commit(conn, source=source, severity=severity)
        return alert_id

    @staticmethod
    def reported(conn: Connection, *, check_reference: str) -> bool:
        """Whether a person already reported this check."""
        found = conn.execute(select(func.count()).select_from(AlertRow).where(
            AlertRow.source == AlertSource.MEMBER_REPORT.value,
            AlertRow.check_reference == check_reference)).scalar_one()
        return bool(found)

    def first_alert_at(self, *, accounts: Sequence[int] = (), sessions: Sequence[str] = (),
                       since: dt.datetime | None = None) -> dt.datetime | None:
        """When the first alert on any of these accounts or sessions was raised."""
        conditions = []
        if accounts:
            conditions.append(AlertRow.account_id.in_([str(a) for a in accounts]))
        if sessions:
            conditions.append(AlertRow.session_id.in_(list(sessions)))
        if not conditions:
            return None
        query = select(func.min(AlertRow.created_at)).where(or_(*conditions))
        if since is not None:
            query = query.where(AlertRow.created_at >= since)
        with self._engine.connect() as conn:
            first = conn.execute(query).scalar_one_or_none()
        if first is None:
            return None
        return first if first.tzinfo else first.replace(tzinfo=dt.UTC)

    def recent(self, *, limit: int = 100) -> list[StoredAlert]:
        """The newest alerts first."""
        return self._newest(select(AlertRow), limit)

    def open(self, *, limit: int = 100) -> list[StoredAlert]:
        """Alerts no operator has closed yet, newest first."""
        return self._newest(select(AlertRow).where(AlertRow.resolved_at.is_(None)), limit)

    def for_account(self, account_id: int | str, *, limit: int = 100) -> list[StoredAlert]:
        """One account's alerts, open or closed, newest first."""
        return self._newest(select(AlertRow).where(AlertRow.account_id == _text_id(account_id)),
                            limit)

    def open_for_network(self, label: str, *, limit: int = 100) -> list[StoredAlert]:
        """A listed shared network's alerts no operator has closed, newest first."""
        return self._newest(select(AlertRow).where(AlertRow.network == label[:64],
                                                   AlertRow.resolved_at.is_(None)), limit)

    def get(self, alert_id: int) -> StoredAlert | None:
        with DbSession(self._engine) as db:
            row = db.get(AlertRow, alert_id)
            return stored_alert(row) if row is not None else None

    def resolve(self, conn: Connection, *, alert_ids: Sequence[int], by: int,
                at: dt.datetime) -> int:
        """Close these alerts (those still open) in the caller's transaction; how many."""
        if not alert_ids:
            return 0
        done = conn.execute(update(AlertRow).where(AlertRow.id.in_(list(alert_ids)),
                                                   AlertRow.resolved_at.is_(None))
                            .values(resolved_at=at, resolved_by=by))
        return int(done.rowcount or 0)

    def open_ids_for_account(self, conn: Connection, account_id: int | str) -> list[int]:
        return list(conn.execute(select(AlertRow.id).where(
            AlertRow.account_id == _text_id(account_id),
            AlertRow.resolved_at.is_(None))).scalars())

    def _newest(self, query: Any, limit: int) -> list[StoredAlert]:
        with DbSession(self._engine) as db:
            rows = db.scalars(query.order_by(AlertRow.id.desc())
                              .limit(max(1, min(limit, 1000)))).all()
            return [stored_alert(row) for row in rows]


class StoredAlertSink:
    """The guard's AlertSink: each alert becomes a row and an audit entry.

    It never raises for storage trouble (the guard's contract): an alert that cannot be
    written is kept in memory, logged without its content, and written with the next one.
    """

    def __init__(self, *, engine: Engine, audit: AuditLog,
                 on_stored: Callable[[], None] | None = None) -> None:
        self._engine = engine
        self._audit = audit
        self._on_stored = on_stored  # e.g. the webhook worker's nudge
        self._lock = threading.Lock()
        self._pending: list[Alert | ClockJump | NetworkAlert] = []

    @property
    def pending(self) -> int:
        return len(self._pending)

    def emit(self, alert: Alert) -> None:
        self._store(alert)

    def clock_jumped(self, jump: ClockJump) -> None:
        self._store(jump)

    def network_alert(self, alert: NetworkAlert) -> None:
        self._store(alert)

    def _store(self, alert: Alert | ClockJump | NetworkAlert) -> None:
        with self._lock:
            self._pending.append(alert)
            batch = list(self._pending)
            try:
                with self._engine.begin() as conn:
                    for item in batch:
                        if isinstance(item, ClockJump):
                            _insert_clock_jump(conn, item)
                        elif isinstance(item, NetworkAlert):
                            AlertStore.insert(conn, source=AlertSource.SHARED_NETWORK,
                                              severity=item.severity, created_at=item.at,
                                              reasons=item.reasons, network=item.label)
                        else:
                            _insert_guard_alert(conn, item)
                    self._audit.append_in_transaction(conn, [_audit_record(a) for a in batch])
            except (SQLAlchemyError, AuditError) as exc:
                if len(self._pending) > MAX_PENDING:
                    del self._pending[0]
                log.warning("alert kept for a retry", error_type=type(exc).__name__,
                            pending=len(self._pending))
                return
            self._pending.clear()
        if self._on_stored is not None:
            self._on_stored()


def _insert_guard_alert(conn: Connection, alert: Alert) -> None:
    AlertStore.insert(
        conn, source=AlertSource.GUARD, severity=alert.severity, created_at=alert.at,
        reasons=alert.reasons, action=alert.action.name.lower(), account_id=alert.account_id,
        organisation_id=alert.organisation_id, session_id=alert.session_id,
        channel=str(alert.channel), score=float(alert.score))


def _insert_clock_jump(conn: Connection, jump: ClockJump) -> None:
    # Back only: each process watching the clock raises the jump, so the rows may be
    # moved once per process, which only makes a retry come sooner (moved forward, they
    # would wait the jump once more per process); set forward, they are due already.
    # Before the jump's own row, which is due at once on the new time.
    if jump.seconds < 0:
        shift_pending(conn, seconds=jump.seconds)
    AlertStore.insert(conn, source=AlertSource.CLOCK, severity=jump.severity,
                      created_at=jump.at, reasons=jump.reasons)


def shift_pending(conn: Connection, *, seconds: float) -> int:
    """Move every undelivered alert's next attempt by `seconds` (a clock jump, in the
    caller's transaction); how many. Rare (once per jump) and few rows: one update each."""
    rows = conn.execute(select(AlertOutboxRow.alert_id, AlertOutboxRow.next_attempt_at)
                        .where(AlertOutboxRow.delivered_at.is_(None))).all()
    by = dt.timedelta(seconds=seconds)
    for alert_id, next_attempt_at in rows:
        conn.execute(update(AlertOutboxRow).where(AlertOutboxRow.alert_id == alert_id)
                     .values(next_attempt_at=next_attempt_at + by))
    return len(rows)


def _audit_record(alert: Alert | ClockJump | NetworkAlert) -> AuditRecord:
    if isinstance(alert, NetworkAlert):
        # Counts only: the label is the operator's text, kept on the alert's row.
        return AuditRecord.create(
            event="guard.shared_network", occurred_at=alert.at,
            detail={"kind": alert.kind, "new": alert.new, "known": alert.known,
                    "checks": alert.checks, "severity": alert.severity})
    if isinstance(alert, ClockJump):
        return AuditRecord.create(
            event="guard.clock_jump", occurred_at=alert.at,
            detail={"seconds": round(alert.seconds), "tolerance_s": round(alert.tolerance_s)})
    return AuditRecord.create(
        event="guard.alert", occurred_at=alert.at, account_id=_int_id(alert.account_id),
        organisation_id=_int_id(alert.organisation_id),
        session_id=alert.session_id if TOKEN_PATTERN.fullmatch(alert.session_id) else None,
        detail={"action": alert.action.name.lower(), "severity": alert.severity,
                "score": round(alert.score), "channel": str(alert.channel),
                "reasons": len(alert.reasons)})


def _int_id(value: int | str | None) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.isdigit() and 0 < len(value) < 19:
        return int(value) or None
    return None


def _text_id(value: int | str | None) -> str | None:
    return None if value is None else str(value)[:64]


def stored_alert(row: AlertRow) -> StoredAlert:
    reasons = orjson.loads(row.reasons) if row.reasons else []
    return StoredAlert(
        id=row.id, source=AlertSource(row.source), severity=row.severity, action=row.action,
        account_id=row.account_id, organisation_id=row.organisation_id,
        session_id=row.session_id, channel=row.channel, score=row.score,
        reasons=tuple(str(r) for r in reasons), check_reference=row.check_reference,
        created_at=row.created_at, resolved_at=row.resolved_at, resolved_by=row.resolved_by,
        network=row.network)
