"""Alerts to the operator's security team: internal ids, the action, reasons, score, time.

An alert never carries personal data: no patient, no NIR, no name, no address — only
the account, organisation and session ids the operator already knows. A ClockJump
(rempart.guard.clockwatch) names no one at all: how far the wall clock jumped, and when.
A NetworkAlert (rempart.guard.netwatch) names a listed shared network by its label and
counts organisations; the console shows which (internal ids).
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


@dataclass(frozen=True, slots=True)
class ClockJump:
    """The wall clock moved `seconds` (forward > 0, back < 0) more than the monotonic
    clock between two readings; `at` is the wall time read after it (the new time)."""

    seconds: float
    at: dt.datetime
    tolerance_s: float

    @property
    def severity(self) -> str:
        return "high"

    @property
    def reasons(self) -> tuple[str, ...]:
        way = "forward" if self.seconds > 0 else "back"
        return (f"the server's wall clock jumped {way} by {_span(abs(self.seconds))} "
                f"(beyond the {self.tolerance_s:g} s tolerance): the guard's time base "
                "was shifted by the jump, so it counts only the time really elapsed; "
                "check the server's time source",)


@dataclass(frozen=True, slots=True)
class NetworkAlert:
    """A listed shared network used unusually (rempart.guard.netwatch): `kind` is
    "novelty" (many organisations new to it within the hour) or "foreign" (an entry
    naming its organisations, most of the hour's checks from others). For a human: no
    decision changes."""

    label: str
    kind: str
    at: dt.datetime
    reasons: tuple[str, ...]
    new: int
    known: int
    checks: int

    @property
    def severity(self) -> str:
        return "medium"


def _span(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds:.0f} s"


class AlertSink(Protocol):
    def emit(self, alert: Alert) -> None:
        """Deliver or durably queue the alert. Must not raise for delivery trouble:
        a sink that cannot deliver keeps the alert for a retry."""
        ...

    def clock_jumped(self, jump: ClockJump) -> None:
        """The operator alert for a clock jump, on the same terms as emit."""
        ...

    def network_alert(self, alert: NetworkAlert) -> None:
        """The operator alert about a listed shared network, on the same terms as emit."""
        ...


class MemoryAlertSink:
    """Keeps alerts in a list, for tests and the drill."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.alerts: list[Alert] = []
        self.clock_jumps: list[ClockJump] = []
        self.network_alerts: list[NetworkAlert] = []

    def emit(self, alert: Alert) -> None:
        with self._lock:
            self.alerts.append(alert)

    def clock_jumped(self, jump: ClockJump) -> None:
        with self._lock:
            self.clock_jumps.append(jump)

    def network_alert(self, alert: NetworkAlert) -> None:
        with self._lock:
            self.network_alerts.append(alert)
