"""The guard on Redis: shared by several machines, and failing closed without it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random

import pytest
import redis

from guard_fixtures import redis_guard_settings  # noqa: F401  (fixture)
from rempart.clock import ManualClock
from rempart.core.care import Profession
from rempart.guard import (
    Action,
    CheckContext,
    GuardSettings,
    GuardUnavailable,
    LookupOutcome,
    MemoryAlertSink,
    SizeClass,
    StepUpFactor,
    build_guard,
)

T0 = dt.datetime(2025, 3, 4, 9, 0, tzinfo=dt.UTC)


def context(clock: ManualClock, **changes: str) -> CheckContext:
    ctx = CheckContext(account_id="a1", organisation_id="o1", session_id="s1",
                       profession=Profession.OPTICIAN, size_class=SizeClass.SOLO,
                       departement="33", address="192.0.2.10", device_id="d1", at=clock.now())
    return dataclasses.replace(ctx, **changes)


def outcome(person: str, ref: str, departement: str = "33") -> LookupOutcome:
    return LookupOutcome(matched=True, person_key=person, departement=departement, covered=True,
                         check_reference=ref)


def test_two_machines_share_one_state(redis_guard_settings: GuardSettings) -> None:  # noqa: F811
    clock = ManualClock(T0)
    alerts = MemoryAlertSink()
    first = build_guard(redis_guard_settings, clock=clock, alerts=alerts)
    second = build_guard(redis_guard_settings, clock=clock, alerts=alerts)
    ctx = context(clock)
    assert first.before_check(ctx).action is Action.ALLOW
    assert first.after_lookup(ctx, outcome("p1", "r1")).action is Action.ALLOW
    # The claim reaches the other machine, which settles the check the first one saw.
    assert second.on_claim(check_reference="r1", account_id="a1")
    assert not first.on_claim(check_reference="r1")
    clock.advance(30)
    # The session moves device: the other machine sees the same session and steps it up.
    moved = context(clock, device_id="d2")
    assert second.before_check(moved).action is Action.STEP_UP
    assert first.before_check(moved).action is Action.STEP_UP
    first.on_step_up(session_id="s1", factor=StepUpFactor.PASSKEY)
    assert second.before_check(moved).action is Action.ALLOW


def test_a_fast_scrape_is_contained_on_redis(redis_guard_settings: GuardSettings) -> None:  # noqa: F811
    clock = ManualClock(T0)
    alerts = MemoryAlertSink()
    machines = [build_guard(redis_guard_settings, clock=clock, alerts=alerts) for _ in range(2)]
    rng = random.Random(1)
    disclosed = 0
    for i in range(120):
        guard = machines[i % 2]  # requests spread over two machines
        ctx = context(clock, address=f"198.51.100.{i % 200}", session_id="hijacked")
        decision = guard.before_check(ctx)
        if decision.discloses:
            decision = guard.after_lookup(ctx, outcome(
                f"leak{i}", f"x{i}", rng.choice(["13", "59", "67", "29"])))
            disclosed += decision.discloses
        clock.advance(0.5)
    assert disclosed <= 20
    assert alerts.alerts
    assert alerts.alerts[0].action >= Action.STEP_UP


def test_an_unreachable_redis_fails_closed() -> None:
    clock = ManualClock(T0)
    # Nothing listens on port 1: every operation fails at once.
    settings = GuardSettings(storage_uri="redis://127.0.0.1:1/0", key_prefix="unreachable")
    guard = build_guard(settings, clock=clock, alerts=MemoryAlertSink())
    ctx = context(clock)
    with pytest.raises(GuardUnavailable, match="refused until its state store answers"):
        guard.before_check(ctx)
    with pytest.raises(GuardUnavailable):
        guard.after_lookup(ctx, outcome("p1", "r1"))
    with pytest.raises(GuardUnavailable):
        guard.on_claim(check_reference="r1")


def test_guard_keys_live_under_the_prefix(redis_guard_settings: GuardSettings) -> None:  # noqa: F811
    clock = ManualClock(T0)
    guard = build_guard(redis_guard_settings, clock=clock, alerts=MemoryAlertSink())
    ctx = context(clock)
    guard.before_check(ctx)
    guard.after_lookup(ctx, outcome("blind-index-123", "r1"))
    client = redis.Redis.from_url(redis_guard_settings.storage_uri)
    keys = [k.decode() for k in client.scan_iter(f"{redis_guard_settings.key_prefix}*")]
    assert keys
    assert not any("blind-index-123" in k or "192.0.2.10" in k or ":s1" in k for k in keys)
    client.close()


def test_a_stale_write_from_another_machine_never_lifts_a_suspension(
        redis_guard_settings: GuardSettings) -> None:  # noqa: F811
    clock = ManualClock(T0)
    alerts = MemoryAlertSink()
    first = build_guard(redis_guard_settings, clock=clock, alerts=alerts)
    second = build_guard(redis_guard_settings, clock=clock, alerts=alerts)
    ctx = context(clock)
    assert first.before_check(ctx).action is Action.ALLOW
    # (An allowed before_check's writes ride with its after_lookup's round trip.)
    assert first.after_lookup(ctx, outcome("p1", "r1")).action is Action.ALLOW
    # A check on the second machine has read the account and its session...
    stale_profile, stale_session = second._state.load_pair("a1", "s1")
    assert stale_profile is not None
    assert stale_session is not None
    # ...when the first machine suspends both (its ladder, as in _decide)...
    profile, session = first._state.load_pair("a1", "s1")
    assert profile is not None
    assert session is not None
    profile.suspended, profile.suspension = True, ("account suspended pending review",)
    session.suspended = True
    first._state.save_pair("a1", profile, "s1", session)
    # ...and then the second machine saves what it had read.
    second._state.save_pair("a1", stale_profile, "s1", stale_session)
    clock.advance(3600)
    assert second.before_check(context(clock)).action is Action.SUSPEND_ACCOUNT
    assert first.before_check(context(clock, session_id="s2")).action is Action.SUSPEND_ACCOUNT
    reloaded = second._state.session("s1")
    assert reloaded is not None
    assert reloaded.suspended
    # Only an operator's restore lifts it, on every machine.
    first.restore_account(account_id="a1")
    assert second.before_check(context(clock, session_id="s3")).action is Action.ALLOW
