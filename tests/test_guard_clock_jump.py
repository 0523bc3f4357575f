"""A served guard across wall-clock jumps (rempart.guard.clockwatch): the watch on its own,
then honest practices and attackers on a clock set forward by days or back by an hour,
in memory and on Redis, against the same traffic with no jump.

The traffic runs on real time (the manual clock's monotonic reading); the wall clock,
which the guard and the practices read, jumps once. Without the watch the guard reads
the jump as elapsed time (see docs/guard.md, "Clock jumps")."""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import random
from collections.abc import Callable

import pytest

from guard_fixtures import redis_guard_settings  # noqa: F401  (fixture)
from guard_streams import START, HonestPractice, PracticeProfile, World
from rempart.clock import ManualClock
from rempart.core.care import Profession
from rempart.guard import (
    Action,
    CheckContext,
    GuardSettings,
    LookupOutcome,
    MemoryAlertSink,
    SizeClass,
    build_guard,
)
from rempart.guard.clockwatch import ClockWatch
from rempart.guard.errors import GuardConfigError

DAY = 86400.0


# -- the watch -----------------------------------------------------------------------


def test_the_watch_follows_a_clock_that_only_advances() -> None:
    clock = ManualClock(START)
    alerts = MemoryAlertSink()
    watch = ClockWatch(clock=clock, alerts=alerts, tolerance_s=120)
    for step in (0.0, 1.0, 3600.0, 5 * DAY):
        clock.advance(step)
        assert watch.ts() == clock.now().timestamp()
    assert watch.offset_s == 0.0
    assert alerts.clock_jumps == []


@pytest.mark.parametrize("jump", [3 * DAY, -3600.0])
def test_a_jump_shifts_the_time_base_and_is_raised_once(jump: float) -> None:
    clock = ManualClock(START)
    alerts = MemoryAlertSink()
    watch = ClockWatch(clock=clock, alerts=alerts, tolerance_s=120)
    before = watch.ts()
    clock.advance(10)
    clock.jump(jump)
    assert watch.ts() == before + 10  # the real time elapsed, not the jump
    for _ in range(5):
        clock.advance(60)
        watch.ts()
    assert watch.ts() == before + 310
    assert watch.offset_s == jump
    [raised] = alerts.clock_jumps
    assert raised.seconds == jump
    assert raised.at == clock.now() - dt.timedelta(seconds=300)  # the wall time then
    assert ("forward" if jump > 0 else "back") in raised.reasons[0]


def test_a_step_within_the_tolerance_is_followed_not_raised() -> None:
    clock = ManualClock(START)
    alerts = MemoryAlertSink()
    watch = ClockWatch(clock=clock, alerts=alerts, tolerance_s=120)
    watch.ts()
    clock.jump(90)  # NTP stepping a clock that was 90 s slow
    assert watch.ts() == clock.now().timestamp()
    clock.jump(-119)
    assert watch.ts() == clock.now().timestamp()
    assert alerts.clock_jumps == []
    clock.jump(121)
    assert watch.ts() == clock.now().timestamp() - 121
    assert len(alerts.clock_jumps) == 1


def test_the_tolerance_is_a_setting() -> None:
    assert GuardSettings().clock_jump_tolerance_s == 120
    assert GuardSettings.from_env({"REMPART_GUARD_CLOCK_JUMP_S": "30"}).clock_jump_tolerance_s == 30
    with pytest.raises(GuardConfigError, match="REMPART_GUARD_CLOCK_JUMP_S"):
        GuardSettings.from_env({"REMPART_GUARD_CLOCK_JUMP_S": "0"})
    with pytest.raises(ValueError, match="positive"):
        ClockWatch(clock=ManualClock(START), alerts=MemoryAlertSink(), tolerance_s=0)


# -- traffic across a jump -------------------------------------------------------------


class JumpWorld(World):
    """A World whose events run on real time (START + the monotonic clock) while the wall
    clock, that everyone reads, may have jumped: an action scheduled at a wall time is
    queued at the real time it stands for when it is scheduled."""

    def __init__(self, settings: GuardSettings, *, watch: bool) -> None:
        clock = ManualClock(START)
        alerts = MemoryAlertSink()
        guard = build_guard(settings, clock=clock, alerts=alerts, watch_clock=watch)
        super().__init__(guard, clock=clock)
        self.alerts = alerts

    def real(self) -> float:
        return START.timestamp() + self.clock.monotonic()

    def at(self, ts: float, action: Callable[[], None]) -> None:
        super().at(ts - (self.clock.now().timestamp() - self.real()), action)

    def jump_at(self, real_ts: float, seconds: float) -> None:
        super().at(real_ts, lambda: self.clock.jump(seconds))

    def run(self, until: float | None = None) -> None:
        while self._queue:
            ts, _, action = self._queue[0]
            if ts > self.real():
                self.clock.advance(ts - self.real())
            heapq.heappop(self._queue)
            action()


def honest_week(settings: GuardSettings, *, watch: bool, jump: float | None,
                ) -> tuple[list[list[Action]], list[bool], JumpWorld]:
    """Three practices that bill in batches (nothing claimed for a day or more: many
    checks pending at any time), a week; the wall clock jumps on day 3 at 13:00."""
    world = JumpWorld(settings, watch=watch)
    practices = []
    for number, profession in enumerate((Profession.PHARMACY, Profession.DENTIST,
                                         Profession.OPTICIAN)):
        rng = random.Random(40 + number)
        profile = dataclasses.replace(PracticeProfile.draw(rng, profession),
                                      claim_delay_h=(20.0, 44.0))
        practice = HonestPractice(world, rng, number, profile)
        practice.schedule(7)
        practices.append(practice)
    if jump is not None:
        world.jump_at(world.ts(3, 12), jump)
    world.run()
    state = world.guard._state
    suspended = [bool((p := state.account(x.account_id)) and p.suspended) for x in practices]
    return [x.decisions for x in practices], suspended, world


@pytest.mark.parametrize("jump", [3 * DAY, -3600.0])
def test_honest_practices_meet_no_friction_across_a_jump(jump: float) -> None:
    settings = GuardSettings()
    calm, calm_suspended, _ = honest_week(settings, watch=True, jump=None)
    decisions, suspended, world = honest_week(settings, watch=True, jump=jump)
    assert not any(calm_suspended)
    assert not any(suspended)
    friction = [sum(a is not Action.ALLOW for a in d) for d in decisions]
    assert friction == [sum(a is not Action.ALLOW for a in d) for d in calm]
    assert sum(friction) == 0
    assert len(world.alerts.clock_jumps) == 1


# -- an attacker across a jump ----------------------------------------------------------


def judged(settings: GuardSettings, *, watch: bool, jump: float | None,
           ) -> list[tuple[Action, tuple[float, float, float]]]:
    """A hijacked account read from the owner's own device and network, one check every
    45 s (real time), forty checks; then the wall clock jumps and it goes on. Each check
    from the last before the jump: its decision, and the counts it was judged on (its
    session's last minute, its account's hour and day: what the ceilings are held to)."""
    clock = ManualClock(START + dt.timedelta(hours=9, minutes=30))
    guard = build_guard(settings, clock=clock, alerts=MemoryAlertSink(), watch_clock=watch)
    seen = []
    for i in range(43):
        if i == 40 and jump is not None:
            clock.jump(jump)
        ctx = CheckContext(account_id="a1", organisation_id="o1", session_id="s1",
                           profession=Profession.PHARMACY, size_class=SizeClass.SMALL,
                           departement="69", address="192.0.2.10", device_id="d1",
                           at=clock.now())
        decision = guard.before_check(ctx)
        if decision.discloses:
            guard.after_lookup(ctx, LookupOutcome(
                matched=True, person_key=f"leak{i % 7}", departement="69", covered=True,
                check_reference=f"r{i}"))
        if i >= 39:
            session = guard._state.session("s1")
            assert session is not None
            seen.append((decision.action, session.counts))
        clock.advance(45)
    return seen


@pytest.mark.parametrize("jump", [3 * DAY, -3600.0])
def test_an_attacker_gets_no_fresh_quota_across_a_jump(jump: float) -> None:
    """Without the watch a forward jump empties every window (the hour and day counts
    start again at 1) and a jump back empties the minute's and counts the hour's
    checks again in the hour before."""
    settings = GuardSettings()
    calm = judged(settings, watch=True, jump=None)
    assert calm[1][1] == (2.0, 41.0, 41.0)
    assert judged(settings, watch=True, jump=jump) == calm


@pytest.mark.parametrize("jump", [3 * DAY, -3600.0])
def test_on_redis_an_attacker_gets_no_fresh_quota_across_a_jump(
        redis_guard_settings: GuardSettings, jump: float) -> None:  # noqa: F811
    calm = judged(GuardSettings(), watch=True, jump=None)
    assert judged(redis_guard_settings, watch=True, jump=jump) == calm


def test_on_redis_honest_practices_meet_no_friction_across_a_jump(
        redis_guard_settings: GuardSettings) -> None:  # noqa: F811
    decisions, suspended, world = honest_week(redis_guard_settings, watch=True, jump=3 * DAY)
    assert not any(suspended)
    assert sum(a is not Action.ALLOW for d in decisions for a in d) == 0
    assert len(world.alerts.clock_jumps) == 1
