"""The guard's state stays lean: what a check leaves behind for the cyclic collector, and
the sliding windows' sweep in their per-length layout (docs/guard.md, "Leaner hot path"),
and counts nobody reads stored without being computed ("Cut, 2026-12-01 (guardfast)")."""

from __future__ import annotations

import datetime as dt
import gc

from hypothesis import given, settings
from hypothesis import strategies as st

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
from rempart.ratelimit import HIGH, ClockedMemoryStorage

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def test_an_unremarkable_first_check_leaves_no_empty_containers_to_collect() -> None:
    # Nearly every check a server sees has nothing to report: its session's evidence,
    # reasons and the account's suspension are the shared empty tuple, not a list each
    # that the cyclic collector would scan for as long as the state lives.
    clock = ManualClock(T0)
    guard = build_guard(GuardSettings(), clock=clock, alerts=MemoryAlertSink())
    ctx = CheckContext(account_id="a1", organisation_id="o1", session_id="s1",
                       profession=Profession.PHARMACY, size_class=SizeClass.SMALL,
                       departement="69", address="192.0.2.10", device_id="d1",
                       at=clock.now())
    assert guard.before_check(ctx).action is Action.ALLOW
    decision = guard.after_lookup(ctx, LookupOutcome(
        matched=True, person_key="p1", departement="69", covered=True, check_reference="r1"))
    assert decision.action is Action.ALLOW
    state = guard._state  # the stored objects themselves
    profile, session = state.account("a1"), state.session("s1")
    assert profile is not None
    assert session is not None
    for empty in (session.novelty, session.pending, session.composition,
                  session.step_up_reasons, profile.suspension):
        assert empty == ()
        assert not gc.is_tracked(empty)
    for fixed in (profile.peaks_today, profile.peaks_high, profile.volume_cache,
                  session.counts):
        assert isinstance(fixed, tuple)


def test_the_sweep_forgets_idle_windows_and_keeps_counting_live_ones() -> None:
    clock = ManualClock(T0)
    storage = ClockedMemoryStorage(clock)
    ts = T0.timestamp()
    storage.slide([("idle", 60, 1), ("day", 86400, 1)], ts)
    assert len(storage) == 2
    later = ts + 600  # ten one-minute buckets on: "idle" is stale, "day" still current
    for _ in range(16 * 4096):  # the sweep runs once per 65,536 slides
        counts = storage.slide([("live", 60, 0), ("day", 86400, 0)], later)
    assert counts[1] == (1.0, 0.0)
    assert len(storage) == 1  # "idle" forgotten; reads stored nothing
    assert storage.slide([("day", 86400, 1)], later) == [(2.0, 0.0)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(
    st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from([60, 3600]),
                       st.sampled_from([0, 1, 3, HIGH, HIGH + 1])), min_size=1, max_size=5),
    st.booleans(), st.floats(min_value=0.0, max_value=200.0)), min_size=1, max_size=40))
def test_counting_without_reading_stores_what_sliding_stores(
        steps: list[tuple[list[tuple[str, int, int]], bool, float]]) -> None:
    # `count` is `slide` for counts nobody reads (SlidingWindows.add, read_adding): the
    # same buckets stored, whatever the keys, amounts and clock, so every later read
    # gives what it gave when every count went through `slide`.
    clock = ManualClock(T0)
    sliding, counting = ClockedMemoryStorage(clock), ClockedMemoryStorage(clock)
    ts = T0.timestamp()
    for keys, unread, step in steps:
        ts += step
        if unread:
            sliding.slide(keys, ts)
            counting.count(keys, ts)
        else:
            assert counting.slide(keys, ts) == sliding.slide(keys, ts)
        reads = [(key, window, 0) for key in "abc" for window in (60, 3600)]
        assert counting.slide(reads, ts) == sliding.slide(reads, ts)
    assert len(counting) == len(sliding)
