"""The drill's two kinds of time: simulated (a manual clock the drill moves, for the
in-process instance whose services take that clock) and real (a running instance
keeps its own system clock, so the drill waits as anyone would)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Protocol

from rempart.clock import ManualClock, SystemClock


class DrillClock(Protocol):
    def now(self) -> dt.datetime: ...

    def monotonic(self) -> float: ...

    async def wait_until(self, moment: dt.datetime) -> None:
        """Return once `moment` has come (at once if it has passed)."""
        ...


class SimulatedTime(ManualClock):
    """Waiting is moving the clock: weeks pass in minutes."""

    async def wait_until(self, moment: dt.datetime) -> None:
        if moment > self.now():
            self.advance((moment - self.now()).total_seconds())


class RealTime(SystemClock):
    """Waiting is sleeping: against a running instance nobody can move its clock."""

    async def wait_until(self, moment: dt.datetime) -> None:
        delay = (moment - self.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)


async def pause(clock: DrillClock, seconds: float) -> None:
    await clock.wait_until(clock.now() + dt.timedelta(seconds=seconds))
