"""The alert outbox: which stored alerts still wait for the webhook, and their retries.

A row is written with its alert (rempart.alerts.store), so nothing is lost when the
webhook is down or the process stops: the next drain, in this process or another,
finds it. Delivery is at least once (a process that dies between the webhook's answer
and the commit sends the alert again): receivers deduplicate on `finding_info.uid`.
A failed delivery is tried again after a delay that doubles with each attempt
(with jitter, so that many alerts held back by an outage do not all return at once), up
to a ceiling; an alert is never dropped, only delayed.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session as DbSession

from rempart.alerts.models import AlertOutboxRow, AlertRow
from rempart.alerts.store import StoredAlert, stored_alert
from rempart.clock import Clock

BASE_DELAY_S = 2.0
MAX_DELAY_S = 15 * 60.0
MAX_ERROR = 80


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    alert: StoredAlert
    attempts: int


def retry_delay(attempts: int, *, base: float = BASE_DELAY_S, ceiling: float = MAX_DELAY_S,
                jitter: random.Random | None = None) -> float:
    """Seconds before the next try after `attempts` failures: doubling, capped, with up
    to a quarter more at random."""
    delay = min(ceiling, base * 2.0 ** max(0, attempts - 1))
    spread = (jitter or random).random() * 0.25
    return min(ceiling, delay * (1.0 + spread))


class AlertOutbox:
    def __init__(self, *, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def due(self, *, limit: int = 50) -> list[PendingDelivery]:
        """Undelivered alerts whose next attempt is due, oldest first."""
        query = (select(AlertRow, AlertOutboxRow.attempts)
                 .join(AlertOutboxRow, AlertOutboxRow.alert_id == AlertRow.id)
                 .where(AlertOutboxRow.delivered_at.is_(None),
                        AlertOutboxRow.next_attempt_at <= self._clock.now())
                 .order_by(AlertOutboxRow.alert_id).limit(max(1, limit)))
        with DbSession(self._engine) as db:
            return [PendingDelivery(alert=stored_alert(row), attempts=attempts)
                    for row, attempts in db.execute(query).all()]

    def claim(self, alert_id: int, *, lease_s: float) -> bool:
        """Take a due alert for one attempt: several processes (server workers, the CLI)
        drain the same outbox, and only the one that moves its next attempt forward
        posts it. A process that dies mid-attempt leaves it due again after the lease."""
        now = self._clock.now()
        with self._engine.begin() as conn:
            taken = conn.execute(update(AlertOutboxRow).where(
                AlertOutboxRow.alert_id == alert_id, AlertOutboxRow.delivered_at.is_(None),
                AlertOutboxRow.next_attempt_at <= now).values(
                next_attempt_at=now + dt.timedelta(seconds=lease_s)))
            return bool(taken.rowcount)

    def delivered(self, alert_id: int) -> None:
        with self._engine.begin() as conn:
            conn.execute(update(AlertOutboxRow).where(AlertOutboxRow.alert_id == alert_id)
                         .values(delivered_at=self._clock.now(),
                                 attempts=AlertOutboxRow.attempts + 1, last_error=None))

    def failed(self, alert_id: int, *, attempts: int, error: str, delay_s: float) -> None:
        """Record a failed attempt (the `attempts`-th) and when to try again."""
        retry_at = self._clock.now() + dt.timedelta(seconds=delay_s)
        with self._engine.begin() as conn:
            conn.execute(update(AlertOutboxRow).where(AlertOutboxRow.alert_id == alert_id)
                         .values(attempts=attempts, next_attempt_at=retry_at,
                                 last_error=error[:MAX_ERROR]))

    def pending(self) -> int:
        """How many alerts wait for delivery."""
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(AlertOutboxRow).where(
                AlertOutboxRow.delivered_at.is_(None))).scalar_one())
