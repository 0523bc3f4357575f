"""Fewer objects per new account (docs/guard.md, "Fewer objects per new account"): the
lighter forms answer exactly as the ones they stand for, and a new account's check
leaves less behind."""

from __future__ import annotations

import dataclasses
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
from rempart.guard import limits_check as lim
from rempart.guard.ceilings import LimitPolicy
from rempart.guard.guard import Guard
from rempart.guard.patients import PatientFilter, Patients, added, positions, seen_in
from rempart.guard.peers import PeerProfiles
from rempart.guard.profile import PendingCheck
from rempart.guard.state import MemoryGuardState
from rempart.ratelimit import HIGH

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _ctx(session: str = "s1", address: str = "192.0.2.10") -> CheckContext:
    return CheckContext(account_id="a1", organisation_id="o1", session_id=session,
                        profession=Profession.PHARMACY, size_class=SizeClass.SMALL,
                        departement="69", address=address, device_id="d1", at=T0)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 40), st.integers(0, 5)),
                min_size=1, max_size=60))
def test_an_accounts_patients_answer_as_a_filter_does_in_every_form(
        steps: list[tuple[bool, int, int]]) -> None:
    # The tuple an account's patients start as (one generation, a few bits) answers every
    # "seen?" as the PatientFilter it stands for, through its switch to a filter, across
    # generations, forwards and backwards (a clock that jumps).
    reference = PatientFilter()
    light: Patients | None = None
    for add, person, gen in steps:
        bits = positions("a1", f"p{person}")
        if add:
            reference.add(bits, gen)
            light = added(light, bits, gen)
        for probe_gen in range(7):
            answer = light is not None and seen_in(light, bits, probe_gen)
            assert answer is reference.seen(bits, probe_gen)


def test_an_accounts_one_pending_claim_matures_and_settles_as_many_do() -> None:
    state = MemoryGuardState(ManualClock(T0))
    check = PendingCheck(ts=0.0, new=True, far=False)
    state.add_pending_claim("a1", "r1", 100.0, check)
    assert state.matured_claims("a1", 99.0) == 0
    assert state.matured_claims("a1", 100.0) == 1
    assert state.matured_claims("a1", 200.0) == 0
    # Settled before its deadline: not counted when it comes.
    state.add_pending_claim("a1", "r2", 300.0, check)
    assert state.settle_claim("r2") == ("a1", check)
    assert state.matured_claims("a1", 400.0) == 0
    # A second one on: a queue, in deadline order.
    for reference, deadline in (("r3", 500.0), ("r4", 600.0), ("r5", 700.0)):
        state.add_pending_claim("a1", reference, deadline, check)
    assert state.settle_claim("r4") == ("a1", check)
    assert state.matured_claims("a1", 650.0) == 1
    assert state.matured_claims("a1", 800.0) == 1
    assert state.settle_claim("r5") is None


def test_a_checks_keys_are_the_counter_keys_and_made_once_per_context() -> None:
    policy = LimitPolicy()
    ctx = _ctx()
    keys = lim.keys_for(ctx, "192.0.2.0/24", policy, 86400, 3600)
    assert keys.check[0] == (lim.counter_key("s", "s1"), policy.session_window_s, 1)
    assert keys.check[2] == (lim.counter_key("a", "a1"), policy.hour_window_s, 1)
    assert keys.distrust[0] == (lim.counter_key("tb", "192.0.2.0/24"), 86400, 0)
    assert keys.sessions == (lim.counter_key("nb", "192.0.2.0/24"), 3600, 0)
    assert lim.failure_keys(keys, policy) == [
        (lim.counter_key("fs", "s1"), policy.failure_session_window_s, 1),
        (lim.counter_key("a", "a1"), policy.hour_window_s, HIGH),
        (lim.counter_key("o", "o1"), policy.hour_window_s, HIGH),
        (lim.counter_key("ip", "192.0.2.10"), policy.hour_window_s, HIGH),
        (lim.counter_key("b", "192.0.2.0/24"), policy.hour_window_s, HIGH)]

    guard = build_guard(GuardSettings(), clock=ManualClock(T0), alerts=MemoryAlertSink())
    assert guard.before_check(ctx).action is Action.ALLOW
    made = ctx.keys
    assert made is not None
    assert made.block == "192.0.2.0/24"
    guard.after_lookup(ctx, LookupOutcome(matched=False))
    assert ctx.keys is made  # the after_lookup used its before_check's
    # A context changed into another check is keyed for itself.
    moved = dataclasses.replace(ctx, address="198.51.100.7")
    assert moved.keys is None
    guard.before_check(moved)
    assert moved.keys is not None
    assert moved.keys.block == "198.51.100.0/24"
    # Another guard with another policy keys it again for its own.
    other = Guard(state=MemoryGuardState(ManualClock(T0)), profiles=PeerProfiles.default(),
                  clock=ManualClock(T0), alerts=MemoryAlertSink(),
                  limits=LimitPolicy(hour_window_s=1800))
    other.before_check(ctx)
    assert ctx.keys is not None
    assert ctx.keys.check[2][1] == 1800


def test_a_new_accounts_first_check_leaves_its_claim_and_patient_as_untracked_tuples() -> None:
    # Most accounts a server sees check one patient in a day: their pending claim and
    # their patients are tuples of numbers and strings, which the cyclic collector stops
    # tracking, not a deque and a filter with its dict for each.
    guard = build_guard(GuardSettings(), clock=ManualClock(T0), alerts=MemoryAlertSink())
    ctx = _ctx()
    guard.before_check(ctx)
    guard.after_lookup(ctx, LookupOutcome(matched=True, person_key="p1", departement="69",
                                          covered=True, check_reference="r1"))
    state = guard._state
    queued = state._pending_by_account["a1"]
    patients = state._patients["a1"]
    assert isinstance(queued, tuple)
    assert isinstance(patients, tuple)
    gc.collect()
    assert not gc.is_tracked(queued)
    assert not gc.is_tracked(patients)
