"""Per check only what a decision needs (docs/guard.md, "Per check only what a decision
needs"): the platform-wide campaign counts tallied and counted before they are read, the
before-step's objects carried to the after-step, the block distrust reads skipped by a
bound, a new account's first session made without the calls an empty profile answers.
Each answers as what it stands for."""

from __future__ import annotations

import datetime as dt

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
from rempart.guard.campaign import DAY_S, HOUR_S, WINDOW_S, CampaignWatch, origin_novelty
from rempart.guard.counters import SlidingWindows
from rempart.guard.evidence import history_evidence, novelty_evidence
from rempart.guard.peers import PeerProfiles
from rempart.guard.profile import AccountProfile
from rempart.guard.rungs import BLOCK_DISTRUST_S
from rempart.ratelimit import ClockedMemoryStorage

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
_PLATFORM = [(key, window, 0) for key, window in (
    ("campaign:all:n", DAY_S), ("campaign:all:odd", DAY_S),
    ("campaign:fresh:n", WINDOW_S), ("campaign:fresh:far", WINDOW_S),
    ("campaign:fresh:fail", WINDOW_S), ("campaign:known:n", WINDOW_S),
    ("campaign:known:far", WINDOW_S), ("campaign:known:fail", WINDOW_S),
    ("campaign:young:n", HOUR_S), ("campaign:young:n", DAY_S),
    ("campaign:young:odd", HOUR_S), ("campaign:young:odd", DAY_S),
    ("campaign:opened", HOUR_S), ("campaign:opened", DAY_S))]


def _ctx(session: str = "s1", account: str = "a1", address: str = "192.0.2.10") -> CheckContext:
    return CheckContext(account_id=account, organisation_id="o1", session_id=session,
                        profession=Profession.PHARMACY, size_class=SizeClass.SMALL,
                        departement="69", address=address, device_id="d1", at=T0)


def test_tallied_platform_counts_read_as_each_check_counting_its_own() -> None:
    # The same checks, over three hours and back (a clock that jumps), through a watch
    # that tallies and through each check counting its own: every read, at any time,
    # finds the same counts.
    clock = ManualClock(T0)
    tallied = SlidingWindows(ClockedMemoryStorage(clock))
    watch = CampaignWatch(tallied)
    own = SlidingWindows(ClockedMemoryStorage(clock))
    keys = lim.keys_for(_ctx(), "192.0.2.0/24", lim.LimitPolicy(), BLOCK_DISTRUST_S, HOUR_S)
    t0 = T0.timestamp()
    for i in range(400):
        ts = t0 + (i * 37) % 11_000 - (3_000 if i % 50 == 7 else 0)
        fresh, young, matched = i % 3 == 0, i % 4 == 1, i % 5 != 0
        far = None if not matched else i % 7 == 0
        watch.record(fresh=fresh, keys=keys, matched=matched, far=far, ts=ts, young=young)
        watch.opened(digest=keys.block_digest, fresh=fresh, foreign_block=False, ts=ts)
        adds = watch._class_adds[(fresh << 3) | (young << 2) | (bool(far) << 1)
                                 | (not matched)]
        own.add([*adds, *((("campaign:opened", HOUR_S, 1), ("campaign:opened", DAY_S, 1))
                          if fresh else ())], ts)
        if i % 13 == 0:
            watch._flush()  # what each read of them does first
            assert tallied.hit(_PLATFORM, ts) == own.hit(_PLATFORM, ts)
    watch._flush()
    for later in (0, 1_800, 4 * 3600, 30 * 3600):
        assert tallied.hit(_PLATFORM, t0 + later) == own.hit(_PLATFORM, t0 + later)


def test_a_session_ended_between_the_steps_is_not_carried_back() -> None:
    guard = build_guard(GuardSettings(), clock=ManualClock(T0), alerts=MemoryAlertSink())
    ctx = _ctx()
    assert guard.before_check(ctx).action is Action.ALLOW
    carried = ctx.carried
    assert carried is not None
    guard.end_session(session_id="s1")
    guard.after_lookup(ctx, LookupOutcome(matched=True, person_key="p1", departement="69"))
    stored = guard._state.session("s1")
    # Loaded afresh, as a second load would: a new session, not the one that ended.
    assert stored is not None
    assert stored is not carried.session
    assert ctx.carried is None  # once


def test_the_carried_objects_are_the_states_own() -> None:
    guard = build_guard(GuardSettings(), clock=ManualClock(T0), alerts=MemoryAlertSink())
    ctx = _ctx()
    guard.before_check(ctx)
    carried = ctx.carried
    assert carried is not None
    guard.after_lookup(ctx, LookupOutcome(matched=True, person_key="p1", departement="69"))
    assert guard._state.session("s1") is carried.session
    assert guard._state.account("a1") is carried.profile
    assert carried.session.checks == 1
    assert carried.session.matched == 1


def test_block_distrust_is_read_while_a_step_up_may_be_counted_unanswered() -> None:
    clock = ManualClock(T0)
    guard = build_guard(GuardSettings(), clock=clock, alerts=MemoryAlertSink())
    rungs, t0 = guard._rungs, T0.timestamp()
    assert not rungs.may_distrust(t0)
    rungs.distrust("192.0.2.0/24", t0, answered=True)
    assert not rungs.may_distrust(t0)  # answered: no count the read compares
    rungs.distrust("192.0.2.0/24", t0)
    windows = guard._state.windows
    key = lim.distrust_keys("192.0.2.0/24", BLOCK_DISTRUST_S, answered=False)[0]
    for later in (0.0, 3600.0, 86_400.0, 2 * 86_400.0 - 1, 2 * 86_400.0, 3 * 86_400.0):
        count = windows.hit([(key[0], key[1], 0)], t0 + later)[0][0]
        # Whenever a count is there, it is read; skipped only where it is 0.
        assert rungs.may_distrust(t0 + later) or count == 0.0
    assert rungs.may_distrust(t0 - 600.0)  # a clock gone back reads


def test_a_new_accounts_first_session_is_what_the_general_path_makes() -> None:
    # The shortcut's premises on an empty profile, and its outcome through the guard.
    prior = PeerProfiles.default().prior(Profession.PHARMACY, SizeClass.SMALL)
    t0 = T0.timestamp()
    empty = AccountProfile.new(t0)
    assert novelty_evidence(empty, prior, device="d1", block="192.0.2.0/24") == []
    assert history_evidence(empty, t0, prior.noun) == []
    assert not empty.is_tainted("d1", "192.0.2.0/24", t0)
    assert origin_novelty(empty, device="d1", block="192.0.2.0/24", ts=t0) == (
        False, False, True)
    guard = build_guard(GuardSettings(), clock=ManualClock(T0), alerts=MemoryAlertSink())
    guard.before_check(_ctx())
    profile, session = guard._state.account("a1"), guard._state.session("s1")
    assert profile is not None
    assert session is not None
    assert profile.seen == empty.seen
    assert (session.fresh, session.foreign_block, session.young, session.novelty,
            session.suspended, session.step_up_required) == (False, False, True, (),
                                                             False, False)


def test_a_new_accounts_expected_volume_is_its_own_to_the_bit() -> None:
    from rempart.guard.ceilings import LimitPolicy
    from rempart.guard.hourly import HourlyModel

    model = HourlyModel(LimitPolicy())
    priors = PeerProfiles.default()
    t0 = T0.timestamp()
    for i in range(300):
        prior = priors.prior(list(Profession)[i % 5], list(SizeClass)[i % 4])
        ts, slot = t0 + 977.0 * i, (i * 7) % 168
        reference = AccountProfile.new(ts)
        profile = AccountProfile.new(ts)
        assert model.volume(profile, ts, slot, prior) == reference.expected_volume(
            ts, slot, prior)
        assert profile.volume_cache == reference.volume_cache
        # Older, or having learnt an hour: its own figures, not the peer group's.
        older = AccountProfile.new(ts - 86_400.0)
        assert model.volume(older, ts, slot, prior) == AccountProfile.new(
            ts - 86_400.0).expected_volume(ts, slot, prior)


def test_a_pending_check_made_through_its_slots_is_the_dataclass() -> None:
    from rempart.guard.learning import _pending
    from rempart.guard.profile import PendingCheck

    made = _pending(1.5, True, None, 2, 1, ("d1", "192.0.2.0/24", None))
    assert made == PendingCheck(1.5, True, None, 2, 1, ("d1", "192.0.2.0/24", None))


def test_dotted_ipv4_blocks_are_what_ipaddress_gives() -> None:
    import ipaddress
    import itertools

    from rempart.guard.netblock import address_block

    octets = ["0", "00", "01", "9", "10", "99", "100", "199", "249", "250", "255", "256",
              "1000", "", "a", "\u0663", " 1"]
    for parts in itertools.product(octets, repeat=4):
        address = ".".join(parts)
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            continue
        assert address_block(address) == str(ipaddress.ip_network(f"{ip}/24", strict=False))


def test_within_is_both_breach_lists_empty() -> None:
    import random

    from rempart.guard.ceilings import LimitPolicy, ceilings_for

    policy = LimitPolicy()
    rnd = random.Random(5)
    priors = PeerProfiles.default()
    for i in range(3000):
        prior = priors.prior(list(Profession)[i % 9], list(SizeClass)[i % 4])
        c = ceilings_for(policy, prior, AccountProfile.new(0.0))
        # Mostly below every ceiling (as nearly every check), some over one or more.
        most, fails = rnd.choice([(3, 3), (12, 6), (60, 30)])
        raw = [(float(rnd.randrange(most)), float(rnd.randrange(fails))) for _ in range(7)]
        counts = lim.Counts.from_check(raw)
        assert lim.within(raw, c) is (
            lim.check_breaches(counts, c, policy, prior.noun) == []
            and lim.failure_breaches(counts.failures, c, policy) == [])


def test_new_accounts_sessions_are_counted_opening_from_their_block() -> None:
    # Counted by the before-step's hit (a new account) or by opened (an account known):
    # either way once per session, as the campaign's network evidence reads them.
    guard = build_guard(GuardSettings(), clock=ManualClock(T0), alerts=MemoryAlertSink())
    for account in ("a1", "a2", "a3"):
        guard.before_check(_ctx(session=f"s-{account}", account=account))
    guard.before_check(_ctx(session="s-a1-again", account="a1"))  # a known account
    guard.before_check(_ctx(session="s-a2", account="a2"))  # not a new session
    sessions = lim.keys_for(_ctx(), "192.0.2.0/24", lim.LimitPolicy(), BLOCK_DISTRUST_S,
                            HOUR_S).sessions
    assert guard._state.windows.hit([sessions], T0.timestamp())[0][0] == 4.0
