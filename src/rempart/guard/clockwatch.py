"""The guard's time base on a served instance: the wall clock less the jumps it made.

The guard reads time as elapsed time: sliding windows slide, pending claims mature,
sessions go idle. A wall clock set forward by days (an operator, NTP stepping a wrong
clock, a VM restored) would read as days gone by: every pending claim would mature at
once as "unclaimed" (honest accounts stepped up) and every window would empty (an
attacker's quotas back at once). Set back, the same checks would be counted in buckets
already counted, and pending claims would wait the jump longer.

So the watch compares, at each reading, how far the wall clock moved with how far the
monotonic clock did; a difference beyond the tolerance is a jump, and the watch adds it
to its offset: the guard's time goes on from where it was, at the monotonic clock's
pace, and never sees the jump. Smaller differences (NTP slewing, a reading's own cost)
are followed as they come. Each jump is logged and raised to the operator once (an
AlertSink's clock_jumped), with nothing about anyone in it.

Why shift rather than pause: a shifted time base needs no change to what is stored (a
window, a claim deadline, a session's last check keep their meaning), holds on Redis
where other instances share the state (their clocks did not jump: the shifted time stays
theirs), and stays shifted until the process restarts, when the guard's time is the
wall clock again (docs/guard.md, "Clock jumps").
"""

from __future__ import annotations

import datetime as dt
import threading

import structlog

from rempart.clock import CLOCK_JUMP_TOLERANCE_S, Clock
from rempart.guard.alerts import AlertSink, ClockJump
from rempart.guard.context import CheckContext

DEFAULT_TOLERANCE_S = CLOCK_JUMP_TOLERANCE_S

log = structlog.get_logger(__name__)


class ClockWatch:
    """The guard's clock (a Clock): the wall clock less the jumps seen, each reported."""

    def __init__(self, *, clock: Clock, alerts: AlertSink,
                 tolerance_s: float = DEFAULT_TOLERANCE_S) -> None:
        if not tolerance_s > 0:
            raise ValueError("the clock jump tolerance must be positive")
        self._clock = clock
        self._alerts = alerts
        self._tolerance_s = tolerance_s
        self._lock = threading.Lock()
        # The last reading, (wall seconds, monotonic seconds); the jumps' sum.
        self._last: tuple[float, float] | None = None
        self._offset = 0.0

    @property
    def offset_s(self) -> float:
        """How far the wall clock is from the guard's time (the jumps seen, summed)."""
        return self._offset

    def ts(self) -> float:
        """The guard's time now, seconds since the epoch. Both clocks are read here,
        one after the other under the lock: a wall time read earlier elsewhere (before
        a jump another thread has seen) would read as a jump back."""
        jump: ClockJump | None = None
        with self._lock:
            at = self._clock.now()
            wall, mono = at.timestamp(), self._clock.monotonic()
            last = self._last
            if last is not None:
                drift = (wall - last[0]) - (mono - last[1])
                if abs(drift) > self._tolerance_s:
                    self._offset += drift
                    jump = ClockJump(seconds=drift, at=at, tolerance_s=self._tolerance_s)
            self._last = (wall, mono)
            ts = wall - self._offset
        if jump is not None:
            self._report(jump)
        return ts

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.ts(), dt.UTC)

    def monotonic(self) -> float:
        return self._clock.monotonic()

    def _report(self, jump: ClockJump) -> None:
        log.warning("guard.clock_jump", seconds=round(jump.seconds, 1),
                    direction="forward" if jump.seconds > 0 else "back",
                    offset_s=round(self._offset, 1), tolerance_s=self._tolerance_s)
        self._alerts.clock_jumped(jump)


def check_ts(ctx: CheckContext, watch: ClockWatch | None) -> float:
    """A check's time for the guard: its wall time, or served the watch's. Read by its
    before_check and kept on its context, so that its after_lookup has the same."""
    ts = ctx.ts
    if ts is None:
        ts = watch.ts() if watch is not None else ctx.at.timestamp()
        object.__setattr__(ctx, "ts", ts)  # a memo on a frozen context
    return ts
