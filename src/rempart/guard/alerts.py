"""Alerts to the operator's security team: internal ids, the action, reasons, score, time.

An alert never carries personal data: no patient, no NIR, no name, no address — only
the account, organisation and session ids the operator already knows. The stored
alerts table, console and webhook sinks come later; they implement AlertSink.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Protocol

from rempart.guard.context import Channel, EntityId
from rempart.guard.decision import Action


@dataclass(frozen=True, slots=True)
class Alert:
    account_id: EntityId
    organisation_id: EntityId
    session_id: str
    action: Action
    reasons: tuple[str, ...]
    score: float
    at: dt.datetime
    channel: Channel

    @property
    def severity(self) -> str:
        return {Action.STEP_UP: "low", Action.SUSPEND_SESSION: "high",
                Action.SUSPEND_ACCOUNT: "critical"}.get(self.action, "info")


class AlertSink(Protocol):
    def emit(self, alert: Alert) -> None:
        """Deliver or durably queue the alert. Must not raise for delivery trouble:
        a sink that cannot deliver keeps the alert for a retry."""
        ...


class MemoryAlertSink:
    """Keeps alerts in a list, for tests and the drill."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.alerts: list[Alert] = []

    def emit(self, alert: Alert) -> None:
        with self._lock:
            self.alerts.append(alert)
