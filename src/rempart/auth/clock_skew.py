"""Timestamps this service wrote that lie ahead of its clock: the wall clock went back.

Sessions, step-up codes, invitations and access tokens keep an absolute life as a
wall-clock deadline. Set back by hours (an operator, NTP stepping a wrong clock, a VM
restored), the clock would read every such deadline as hours away: a 12-hour session,
a 10-minute code, a 5-minute token would each live the jump longer. Their own start
(issued at, created at, last seen at) then lies in the future, which no honest reading
can produce beyond a small skew between workers: such a thing counts as expired.

The tolerance is the guard's default clock-jump tolerance (rempart.clock, 120 s):
smaller steps are NTP's ordinary corrections and workers' clocks that differ a little.
Each refusal is logged (`auth.clock_anomaly`: what, how far ahead; nothing about anyone).
"""

from __future__ import annotations

import datetime as dt

import structlog

from rempart.clock import CLOCK_JUMP_TOLERANCE_S

TOLERANCE = dt.timedelta(seconds=CLOCK_JUMP_TOLERANCE_S)

log = structlog.get_logger(__name__)


def ahead(at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether `at`, written by this service, lies beyond the tolerance after `now`."""
    return at is not None and _aware(at) > now + TOLERANCE


def refused(what: str, *, at: dt.datetime, now: dt.datetime) -> None:
    """Log one refusal caused by the clock: the thing's kind, how far ahead it was."""
    refused_ahead(what, ahead_s=(_aware(at) - now).total_seconds())


def refused_ahead(what: str, *, ahead_s: float) -> None:
    log.warning("auth.clock_anomaly", what=what, ahead_s=round(ahead_s, 1),
                tolerance_s=TOLERANCE.total_seconds())


def _aware(at: dt.datetime) -> dt.datetime:
    # SQLite hands datetimes back naive; every timestamp rempart writes is UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
