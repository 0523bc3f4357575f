"""The injectable clock: every service asks it for the time, so tests and the drill can move it."""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol

# A wall-clock step larger than this is a jump, not a correction (NTP's ordinary steps, a
# little skew between workers): the guard's time base absorbs it
# (rempart.guard.clockwatch) and the auth domain refuses what it wrote "in the future"
# (rempart.auth.clock_skew).
CLOCK_JUMP_TOLERANCE_S = 120.0


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for measuring durations."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start
        self._mono = 0.0

    def now(self) -> dt.datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a manual clock only moves forward")
        self._now += dt.timedelta(seconds=seconds)
        self._mono += seconds

    def jump(self, seconds: float) -> None:
        """The wall clock set forward (seconds > 0) or back, the monotonic clock unmoved:
        what an operator, NTP stepping a wrong clock, or a restored VM does to a server."""
        self._now += dt.timedelta(seconds=seconds)
