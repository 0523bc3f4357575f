"""The guard's parts: address blocks, distances, peers, settings, counters, patient
memory, serialisation, local time slots and the ladder."""

from __future__ import annotations

import datetime as dt
import ipaddress
import random

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rempart.clock import ManualClock
from rempart.core.care import Profession
from rempart.guard import Action, Evidence, GuardConfigError, GuardSettings, SizeClass, codec
from rempart.guard import rates as rw
from rempart.guard.counters import SlidingWindows
from rempart.guard.geo import distance_km, is_far, normalise_departement
from rempart.guard.ladder import LadderPolicy, assess, rung
from rempart.guard.netblock import address_block
from rempart.guard.patients import GENERATION_S, PatientFilter, generation, positions
from rempart.guard.peers import PeerProfiles
from rempart.guard.profile import AccountProfile, PendingCheck, SessionState
from rempart.guard.timeslots import LocalSlots
from rempart.ratelimit import HIGH, ClockedMemoryStorage

T0 = dt.datetime(2025, 3, 3, 8, 0, tzinfo=dt.UTC)


def test_address_blocks() -> None:
    assert address_block("192.0.2.77") == "192.0.2.0/24"
    assert address_block("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert address_block("::ffff:192.0.2.9") == "192.0.2.0/24"
    assert address_block("testclient") == "host:testclient"
    # Not plain dotted IPv4 (ipaddress refuses leading zeros): its own block.
    assert address_block("010.1.2.3") == "host:010.1.2.3"
    assert address_block("1.2.3.256") == "host:1.2.3.256"


def _ipaddress_block(address: str) -> str:
    """The block as ipaddress gives it: what the IPv4 fast path must agree with."""
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return f"host:{address}"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 64}", strict=False))


_OCTET = st.one_of(st.integers(0, 300).map(str), st.sampled_from(["", "00", "01", "007", " 1",
                                                                 "1 ", "+1", "٣", "x"]))


@given(st.lists(_OCTET, min_size=3, max_size=5).map(".".join))
def test_address_blocks_of_dotted_text_agree_with_ipaddress(address: str) -> None:
    assert address_block.__wrapped__(address) == _ipaddress_block(address)


def test_distances_between_departements() -> None:
    paris_marseille = distance_km("75", "13")
    assert paris_marseille is not None
    assert 600 < paris_marseille < 720
    assert distance_km("75", "75") == 0.0
    assert is_far("75", "92") is False
    assert is_far("29", "06") is True
    assert distance_km("75", "99") is None
    assert is_far("75", "xx") is None
    assert normalise_departement("1") == "01"
    assert normalise_departement("2a") == "2A"
    assert distance_km("2a", "2B") is not None


def test_every_peer_group_has_a_prior_with_a_whole_week() -> None:
    peers = PeerProfiles.default()
    for profession in Profession:
        for size in SizeClass:
            prior = peers.prior(profession, size)
            assert abs(sum(prior.shape) - 1.0) < 1e-9
            assert prior.weekly_checks > 0
            assert all(0 < rate < 1 for rate in prior.rates.values())
    small = peers.prior(Profession.PHARMACY, SizeClass.SMALL)
    large = peers.prior(Profession.PHARMACY, SizeClass.LARGE)
    assert large.per_hour > small.per_hour


def test_a_malformed_peer_table_is_refused() -> None:
    with pytest.raises(GuardConfigError, match="no row for profession"):
        PeerProfiles({})
    row = {"noun": "x", "checks_per_open_day": 1, "days": [0], "hours": [9, 10],
           "closed_share": 0.1, "new": 0.1, "far": 0.1, "fail": 0.1, "near_miss": 0.1,
           "unclaimed": 0.1, "per_minute": 1, "per_hour": 1, "new_device": 0.1,
           "new_block": 0.1}
    table = {p.value: row for p in Profession}
    PeerProfiles(table)
    with pytest.raises(GuardConfigError, match="malformed row for pharmacy"):
        PeerProfiles({**table, "pharmacy": {k: v for k, v in row.items() if k != "far"}})
    with pytest.raises(GuardConfigError, match="opening hour"):
        PeerProfiles({**table, "pharmacy": {**row, "hours": [9, 9]}})


def test_settings_from_the_environment() -> None:
    assert GuardSettings.from_env({}) == GuardSettings()
    settings = GuardSettings.from_env({"REMPART_GUARD_STORAGE": "redis://127.0.0.1:6379/2",
                                       "REMPART_GUARD_CLAIM_WINDOW_S": "3600"})
    assert settings.uses_redis
    assert settings.claim_window_s == 3600
    with pytest.raises(GuardConfigError, match="REMPART_GUARD_STORAGE"):
        GuardSettings.from_env({"REMPART_GUARD_STORAGE": "memcached://x"})
    with pytest.raises(GuardConfigError, match="must be an integer"):
        GuardSettings.from_env({"REMPART_GUARD_CLAIM_WINDOW_S": "two days"})
    with pytest.raises(GuardConfigError, match="positive"):
        GuardSettings.from_env({"REMPART_GUARD_CLAIM_WINDOW_S": "0"})
    assert GuardSettings.from_env({"REMPART_GUARD_SNAPSHOT_S": "60"}).snapshot_s == 60
    with pytest.raises(GuardConfigError, match="SNAPSHOT_S must be positive"):
        GuardSettings.from_env({"REMPART_GUARD_SNAPSHOT_S": "0"})
    with pytest.raises(GuardConfigError, match="PREFIX"):
        GuardSettings.from_env({"REMPART_GUARD_PREFIX": "a:b"})


def test_sliding_windows_follow_the_injected_clock() -> None:
    clock = ManualClock(T0)
    windows = SlidingWindows(ClockedMemoryStorage(clock))
    key = [("k", 60, 1)]
    peek = [("k", 60, 0)]
    counts = []
    for _ in range(10):
        counts.append(windows.hit(key, clock.now().timestamp())[0][0])
        clock.advance(1)
    assert counts[-1] >= 10 - 1e-9  # every hit is inside the minute
    clock.advance(60)
    slid = windows.hit(peek, clock.now().timestamp())[0][0]
    assert 0 < slid < 10  # part of the previous bucket still weighs in
    clock.advance(120)
    assert windows.hit(peek, clock.now().timestamp()) == [(0.0, 0.0)]


def test_one_counter_carries_checks_and_failures() -> None:
    clock = ManualClock(T0)
    windows = SlidingWindows(ClockedMemoryStorage(clock))
    ts = clock.now().timestamp()
    for _ in range(7):
        windows.hit([("scope", 3600, 1)], ts)
    for _ in range(3):
        windows.hit([("scope", 3600, HIGH)], ts)
    assert windows.hit([("scope", 3600, 0)], ts) == [(7.0, 3.0)]


@given(st.lists(st.floats(0, 300), min_size=1, max_size=60))
def test_a_sliding_count_never_exceeds_the_hits_of_two_windows(gaps: list[float]) -> None:
    clock = ManualClock(T0)
    windows = SlidingWindows(ClockedMemoryStorage(clock))
    times: list[float] = []
    for gap in gaps:
        clock.advance(gap)
        ts = clock.now().timestamp()
        times.append(ts)
        count = windows.hit([("k", 60, 1)], ts)[0][0]
        assert count >= sum(1 for t in times if t >= (ts // 60) * 60) - 1e-9
        assert count <= sum(1 for t in times if t > ts - 120) + 1e-9


def test_patient_memory_remembers_for_two_generations() -> None:
    memory = PatientFilter()
    gen = generation(T0.timestamp())
    memory.add(positions("a1", "person-1"), gen)
    assert memory.seen(positions("a1", "person-1"), gen)
    assert memory.seen(positions("a1", "person-1"), gen + 1)
    memory.add(positions("a1", "person-2"), gen + 2)
    assert not memory.seen(positions("a1", "person-1"), gen + 2)
    # The same person in another account is another set of bits.
    assert positions("a1", "person-1") != positions("a2", "person-1")
    assert generation(T0.timestamp() + GENERATION_S) == gen + 1


def test_patient_memory_answers_alike_before_and_after_it_becomes_a_bitmap() -> None:
    # A generation starts as a short tuple of bits and becomes a bitmap as it fills:
    # "seen" must be what the set of all bits added says, on both sides of the switch.
    for seed in range(5):
        rnd = random.Random(seed)
        memory, added = PatientFilter(), set[int]()
        for i in range(40):
            memory.add(positions("a", f"p{seed}-{i}"), 0)
            added.update(positions("a", f"p{seed}-{i}"))
            probes = [positions("a", f"p{seed}-{rnd.randrange(60)}") for _ in range(20)]
            probes.append(tuple(rnd.sample(sorted(added), 3)))
            for bits in probes:
                assert memory.seen(bits, 0) is all(b in added for b in bits)
                assert memory.seen(bits, 1) is all(b in added for b in bits)
                assert not memory.seen(bits, 2)


def test_patient_memory_false_positives_stay_rare() -> None:
    memory = PatientFilter()
    for i in range(4000):
        memory.add(positions("a", f"seen-{i}"), 0)
    false = sum(memory.seen(positions("a", f"other-{i}"), 0) for i in range(4000))
    print(f"false 'seen' among 4000 new patients after 4000 known: {false}")
    assert false < 200


def test_profiles_and_sessions_survive_serialisation() -> None:
    profile = AccountProfile.new(T0.timestamp())
    rw.observe(profile.rates, rw.FAR, True)
    rw.learn(profile.rates, rw.FAIL, False)
    profile.learn_hour(T0.timestamp() + 10, 9)
    profile.learn_peaks(1, 3.0, 20.0, 100.0)
    profile.learn_peaks(2, 2.0, 10.0, 50.0)  # day 1 goes to the history
    assert profile.peaks_history == ((3.0, 20.0, 100.0),)
    profile.learn_session("dev", "192.0.2.0/24", "AS3215", T0.timestamp())
    profile.note_step_up(T0.timestamp(), passed=False)
    assert codec.load_account(codec.dump(profile)) == profile
    session = SessionState("a1", "dev", "192.0.2.0/24", None, T0.timestamp(), T0.timestamp(),
                           novelty=(Evidence("novelty", 9.0, "why"),))
    session.note_attempt(T0.timestamp() + 5, 900)
    session.note_attempt(T0.timestamp() + 9, 900)  # an interval: the list is made
    assert session.intervals == [4.0]
    session.note_near_miss("pk", T0.timestamp())
    session.is_retry("attempt", T0.timestamp() + 1)
    session.rebind = ["d2", "b2", None]
    assert codec.load_session(codec.dump(session)) == session
    pending = PendingCheck(1.5, True, None, 2, 1, ("dev", "blk", None))
    assert codec.load_pending(codec.dump_pending("a1", pending)) == ("a1", pending)


def test_a_profile_saved_with_rates_by_name_loads_into_the_flat_list() -> None:
    # Profiles in Redis written before the rates were one list keep their figures.
    profile = AccountProfile.new(T0.timestamp())
    for i in range(7):
        rw.observe(profile.rates, rw.FAR, i % 3 == 0)
        rw.learn(profile.rates, rw.UNCLAIMED, i % 2 == 0)
    fields = ("base_hits", "base_trials", "short_hits", "short_trials", "long_hits",
              "long_trials")
    saved = orjson.loads(codec.dump(profile))
    saved["rates"] = {name: dict(zip(fields, profile.rates[at:at + rw.FIELDS], strict=True))
                      for name, at in rw.OFFSET.items()}
    assert codec.load_account(orjson.dumps(saved)) == profile


def test_local_slots_follow_paris_time() -> None:
    slots = LocalSlots()
    winter = dt.datetime(2025, 3, 3, 8, 30, tzinfo=dt.UTC).timestamp()  # Monday 09:30 CET
    summer = dt.datetime(2025, 7, 7, 8, 30, tzinfo=dt.UTC).timestamp()  # Monday 10:30 CEST
    assert slots.slot(winter)[0] == 9
    assert slots.slot(summer)[0] == 10
    assert slots.label(winter) == "Monday 09:00"
    with pytest.raises(GuardConfigError):
        LocalSlots("Mars/Olympus_Mons")


def test_the_ladder() -> None:
    policy = LadderPolicy()

    def decide(*items: tuple[str, float], credit: float = 0.0) -> Action:
        evidence = [Evidence(feature, bits, feature) for feature, bits in items]
        return rung(assess(evidence, policy), credit=credit, policy=policy)

    assert decide(("far", 10.0)) is Action.ALLOW
    # One fact about who the patients are never asks alone, however surprising...
    assert decide(("far", 40.0)) is Action.ALLOW
    # ...but with anything about how the session behaves, or another such fact, it does.
    assert decide(("far", 21.0), ("timing", 4.5)) is Action.STEP_UP
    assert decide(("far", 21.0), ("new", 4.5)) is Action.STEP_UP
    # One family counts once, however many of its features speak.
    assert decide(("volume.hour", 13.0), ("volume.burst", 13.0)) is Action.ALLOW
    assert decide(("volume.hour", 13.0), ("fail", 13.0)) is Action.STEP_UP
    assert decide(("far", 21.0), ("timing", 4.5), credit=10.0) is Action.ALLOW
    # Who the patients are can only ask for a step-up, however extreme.
    assert decide(("far", 60.0), ("new", 60.0), ("novelty", 60.0)) is Action.STEP_UP
    # Nor can a new computer during an attack elsewhere on the platform.
    assert decide(("novelty", 30.0), ("campaign", 30.0)) is Action.STEP_UP
    assert decide(("far", 30.0), ("fail", 30.0)) is Action.SUSPEND_SESSION
    assert decide(("far", 30.0), ("fail", 30.0), ("timing", 20.0)) is Action.SUSPEND_ACCOUNT
    assessment = assess([Evidence("fail", 3.0, "small"), Evidence("far", 9.0, "kept")], policy)
    assert assessment.reasons() == ["kept"]
    assert assessment.score == pytest.approx(5.0)


@given(st.lists(st.tuples(*[st.sampled_from([None, False, True])] * 4), max_size=40))
def test_a_checks_observations_in_one_call_are_each_features_own(
        checks: list[tuple[bool | None, bool | None, bool | None, bool | None]]) -> None:
    # observe_check writes its offsets out: it must leave every figure as observe() does.
    one, each = rw.empty(), rw.empty()
    for flags in checks:
        rw.observe_check(one, *flags)
        for at, hit in zip((rw.NEW, rw.FAR, rw.FAIL, rw.NEAR_MISS), flags, strict=True):
            if hit is not None:
                rw.observe(each, at, hit)
    assert one == each
