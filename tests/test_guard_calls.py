"""Fewer Python calls per check, the same answers (docs/guard.md, "Fewer calls per check"):
the gate's context made through its slots, the distances from per-département radians,
a new account's ceilings told from its peaks without building them, the in-process
lock held without a call."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rempart.clock import ManualClock
from rempart.core.care import Profession
from rempart.guard import GuardSettings, MemoryAlertSink, build_guard
from rempart.guard.ceilings import learnt_nothing
from rempart.guard.context import Channel, CheckContext, SizeClass, new_context
from rempart.guard.errors import InvalidCheckContext
from rempart.guard.geo import EARTH_RADIUS_KM, FAR_KM, centroids, distance_km, is_far
from rempart.guard.peers import PeerProfiles
from rempart.guard.profile import AccountProfile
from rempart.guard.timeslots import LocalSlots

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
FIELDS = dict(account_id="a1", organisation_id=7, session_id="api:c|jkt:k",
              profession=Profession.NURSE, size_class=SizeClass.LARGE, departement="2A",
              address="192.0.2.10", device_id="jkt:k", at=T0, channel=Channel.API,
              postcode="20000", network="AS3215")


def test_new_context_is_the_dataclass_made_field_by_field() -> None:
    made = new_context(**FIELDS)
    assert type(made) is CheckContext
    assert made == CheckContext(**FIELDS)
    assert made.keys is None
    assert made.ts is None
    assert made.carried is None
    assert [getattr(made, f.name) for f in dataclasses.fields(made)] == [
        *FIELDS.values(), None, None, None]
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.session_id = "other"  # type: ignore[misc]


def test_new_context_checks_what_the_dataclass_checks() -> None:
    with pytest.raises(InvalidCheckContext):
        new_context(**{**FIELDS, "at": T0.replace(tzinfo=None)})
    with pytest.raises(InvalidCheckContext):
        new_context(**{**FIELDS, "session_id": ""})


def _distance_per_pair(a: str, b: str) -> float:
    """The distance as it was computed, each end's radians and cosine per pair."""
    lat1, lon1 = map(math.radians, centroids()[a])
    lat2, lon2 = map(math.radians, centroids()[b])
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def test_every_distance_is_the_per_pair_formula_to_the_bit() -> None:
    codes = sorted(centroids())
    for a in codes:
        for b in codes:
            assert distance_km(a, b) == _distance_per_pair(a, b)
            assert is_far(a, b) is (_distance_per_pair(a, b) > FAR_KM)
    # Codes as they come, normalised as before.
    assert distance_km("1", "2a") == _distance_per_pair("01", "2A")
    assert is_far(" 75", "xx") is None


peaks = st.tuples(*[st.floats(0.0, 5000.0)] * 3)


@given(high=peaks, today=peaks, learnt=st.integers(0, 2))
def test_learnt_nothing_compares_the_peaks_as_own_peaks_does(
        high: tuple[float, float, float], today: tuple[float, float, float],
        learnt: int) -> None:
    prior = PeerProfiles.default().prior(Profession.PHARMACY, SizeClass.SMALL)
    profile = AccountProfile.new(0.0)
    profile.peaks_high, profile.peaks_today = high, today
    profile.learned_checks = learnt
    minute, hour, day = profile.own_peaks()
    assert learnt_nothing(profile, prior) is (
        not learnt and minute <= prior.per_minute and hour <= prior.per_hour
        and day <= prior.per_day)


def test_in_process_the_gate_holds_the_lock_serial_gives_every_account() -> None:
    clock = ManualClock(T0)
    guard = build_guard(GuardSettings(), clock=clock, alerts=MemoryAlertSink())
    lock = guard.one_serial
    assert lock is not None
    assert all(guard.serial(key) is lock for key in ("1", 2, "client:c", None))


def test_a_slot_and_its_label_in_one_call() -> None:
    slots = LocalSlots()
    for ts in (T0.timestamp(), T0.timestamp() + 3599, T0.timestamp() + 86400 * 200):
        assert slots.at(ts) == (*slots.slot(ts), slots.label(ts))
        assert slots.at(ts) == slots.at(ts)  # cached, the same
