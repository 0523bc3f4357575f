"""The guard's round trips to Redis: the same decisions as in memory, in fewer trips."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from typing import Any

import redis
from limits.storage import RedisStorage

from guard_fixtures import redis_guard_settings  # noqa: F401  (fixture)
from rempart.clock import ManualClock
from rempart.core.care import Profession
from rempart.guard import (
    CheckContext,
    GuardSettings,
    LookupOutcome,
    MemoryAlertSink,
    SizeClass,
    StepUpFactor,
)
from rempart.guard.guard import Guard
from rempart.guard.peers import PeerProfiles
from rempart.guard.profile import AccountProfile, SessionState
from rempart.guard.redis_state import RedisGuardState
from rempart.guard.redis_trips import Trips, setv
from rempart.guard.state import GuardState, MemoryGuardState

T0 = dt.datetime(2025, 3, 4, 8, 0, tzinfo=dt.UTC)


class CountingConnection(redis.Connection):
    """A real connection that counts what it sends (one packed send per round trip)."""

    sends = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sends += 1
        super().send_packed_command(command, check_health)


def redis_state(settings: GuardSettings, *, counting: bool = False) -> RedisGuardState:
    client = redis.Redis.from_url(settings.storage_uri, **(
        {"connection_class": CountingConnection} if counting else {}))
    storage = RedisStorage(settings.storage_uri, key_prefix=f"{settings.key_prefix}-limits",
                           wrap_exceptions=True)
    return RedisGuardState(client, storage, prefix=settings.key_prefix)


def play(state: GuardState, clock: ManualClock, seed: int) -> list[str]:
    """A seeded stream: practices checking their patients, claims for most, attackers on
    stolen accounts from their own machines and from the practices' sessions, step-ups
    answered now and then, an operator's restore. Every decision and alert, in order."""
    alerts = MemoryAlertSink()
    guard = Guard(state=state, profiles=PeerProfiles.default(), clock=clock, alerts=alerts)
    rnd = random.Random(seed)
    seen: list[str] = []
    for i in range(700):
        clock.advance(rnd.choice((0.5, 3.0, 40.0)))
        account = rnd.randrange(6)
        attacker = rnd.random() < 0.25
        session = f"x{account}-{i // 150}" if attacker else f"s{account}-{i // 200}"
        device = "evil" if attacker and rnd.random() < 0.8 else f"d{account}"
        address = f"45.9.{rnd.randrange(3)}.7" if attacker else f"192.0.{account}.10"
        ctx = CheckContext(account_id=f"a{account}", organisation_id=f"o{account}",
                           session_id=session, profession=Profession.PHARMACY,
                           size_class=SizeClass.SMALL, departement="33", address=address,
                           device_id=device, at=clock.now())
        before = guard.before_check(ctx)
        seen.append(f"{i} before {before.action.name} {before.reasons}")
        if not before.discloses:
            if attacker and rnd.random() < 0.1:
                guard.on_step_up(session_id=session, factor=StepUpFactor.TOTP)
            if i == 500:
                guard.restore_account(account_id=f"a{account}")
            continue
        matched = rnd.random() < (0.6 if attacker else 0.95)
        person = f"p{rnd.randrange(40 if not attacker else 10_000)}"
        outcome = LookupOutcome(
            matched=matched, person_key=person if matched else None,
            departement=rnd.choice(("33", "33", "67", "2A")) if matched else None,
            near_miss=not matched and rnd.random() < 0.3, covered=matched,
            check_reference=f"r{i}" if matched else None)
        after = guard.after_lookup(ctx, outcome)
        seen.append(f"{i} after {after.action.name} {after.score} {after.reasons}")
        if after.discloses and matched and not attacker and rnd.random() < 0.9:
            if rnd.random() < 0.1:  # another account's claim: the check stays pending
                wrong = guard.on_claim(check_reference=f"r{i}", account_id=f"a{account + 1}")
                seen.append(f"{i} claim by another account {wrong}")
            seen.append(f"{i} claim {guard.on_claim(check_reference=f'r{i}')}")
    seen += [f"alert {a.account_id} {a.session_id} {a.action.name} {a.reasons}"
             for a in alerts.alerts]
    return seen


def test_redis_and_memory_make_the_same_decisions(
        redis_guard_settings: GuardSettings) -> None:  # noqa: F811
    for seed in (1, 2):
        settings = GuardSettings(storage_uri=redis_guard_settings.storage_uri,
                                 key_prefix=f"{redis_guard_settings.key_prefix}{seed}")
        clock = ManualClock(T0)
        in_memory = play(MemoryGuardState(clock), clock, seed)
        clock = ManualClock(T0)
        on_redis = play(redis_state(settings), clock, seed)
        assert on_redis == in_memory
        # The stream reaches the guard's rungs, not only its plain answers.
        assert any("STEP_UP" in line for line in in_memory)
        assert any("SUSPEND" in line for line in in_memory)


def test_an_allowed_check_makes_three_round_trips(
        redis_guard_settings: GuardSettings) -> None:  # noqa: F811
    clock = ManualClock(T0)
    guard = Guard(state=redis_state(redis_guard_settings, counting=True),
                  profiles=PeerProfiles.default(), clock=clock, alerts=MemoryAlertSink())
    ctx = CheckContext(account_id="a1", organisation_id="o1", session_id="s1",
                       profession=Profession.PHARMACY, size_class=SizeClass.SMALL,
                       departement="33", address="192.0.2.10", device_id="d1", at=clock.now())
    found = LookupOutcome(matched=True, person_key="p1", departement="33", covered=True,
                          check_reference="r1")
    guard.before_check(ctx)
    guard.after_lookup(ctx, found)
    clock.advance(30)
    ctx = dataclasses.replace(ctx, at=clock.now())
    start = CountingConnection.sends
    assert guard.before_check(ctx).discloses
    # Its state and every count it may read, in one trip; its writes wait...
    assert CountingConnection.sends - start == 1
    assert guard.after_lookup(ctx, found).discloses
    # ...for the look-up's reads, then the check's writes.
    assert CountingConnection.sends - start == 3


def test_what_a_step_leaves_behind_is_seen_by_the_other_machines(
        redis_guard_settings: GuardSettings) -> None:  # noqa: F811
    clock = ManualClock(T0)
    first, second = (Guard(state=redis_state(redis_guard_settings),
                           profiles=PeerProfiles.default(), clock=clock,
                           alerts=MemoryAlertSink()) for _ in range(2))
    ctx = CheckContext(account_id="a1", organisation_id="o1", session_id="s1",
                       profession=Profession.PHARMACY, size_class=SizeClass.SMALL,
                       departement="33", address="192.0.2.10", device_id="d1", at=clock.now())
    assert first.before_check(ctx).discloses
    assert first.after_lookup(ctx, LookupOutcome(
        matched=True, person_key="p1", departement="33", covered=True,
        check_reference="r1")).discloses
    # Another account's claim leaves the check pending, on every machine...
    assert not first.on_claim(check_reference="r1", account_id="a2")
    # ...for its own account's claim, wherever it arrives.
    assert second.on_claim(check_reference="r1", account_id="a1")


def _saved_pair(state: RedisGuardState) -> tuple[AccountProfile, SessionState]:
    """A check's first step: state read, then saved for its next step (later)."""
    profile = AccountProfile.new(T0.timestamp())
    session = SessionState(account_id="a1", device="d1", block="192.0.2.0/24", network=None,
                           started=T0.timestamp(), last=T0.timestamp())
    with state.serial("a1"):
        state.load_pair("a1", "s1")
        state.save_pair("a1", profile, "s1", session, later=True)
    return profile, session


def test_the_next_step_reads_back_what_its_check_saved_without_decoding_it(
        redis_guard_settings: GuardSettings) -> None:  # noqa: F811
    state = redis_state(redis_guard_settings)
    profile, session = _saved_pair(state)
    with state.serial("a1"):
        again = state.load_pair("a1", "s1")
    assert again[0] is profile
    assert again[1] is session
    # Only for the step that follows: the one after that decodes what Redis holds.
    with state.serial("a1"):
        state.save_pair("a1", profile, "s1", session)
        later = state.load_pair("a1", "s1")
    assert later[0] is not profile
    assert later[0] == profile
    assert later[1] is not session
    assert later[1] == session


def test_what_another_machine_wrote_meanwhile_wins_over_what_was_kept(
        redis_guard_settings: GuardSettings) -> None:  # noqa: F811
    state, other_machine = redis_state(redis_guard_settings), redis_state(redis_guard_settings)
    profile, session = _saved_pair(state)
    with state.serial("a1"):
        state.flush()  # the writes reach Redis (in a server: with the look-up's trip)
    changed = dataclasses.replace(profile, learned_checks=7)
    with other_machine.serial("a1"):
        other_machine.save_account("a1", changed)
    # A suspension of the session by another machine: its key, beside the same JSON.
    redis.Redis.from_url(redis_guard_settings.storage_uri).set(
        other_machine._session_keys("s1")[1], b"1")
    with state.serial("a1"):
        read, read_session = state.load_pair("a1", "s1")
    assert read is not None
    assert read is not profile
    assert read.learned_checks == 7
    # The session's JSON is the one kept, its suspension key stood beside it meanwhile.
    assert read_session is session
    assert read_session.suspended


def test_a_trip_stores_values_verbatim_and_answers_only_for_its_own_commands(
        redis_guard_settings: GuardSettings) -> None:  # noqa: F811
    # Values ride as script arguments of their own, not inside the trip's JSON: any
    # bytes come back as sent (quotes, backslashes, accents, a NUL, bytes that are not
    # UTF-8). The queued writes' replies are left out of the trip's.
    prefix = redis_guard_settings.key_prefix
    trips = Trips(redis.Redis.from_url(redis_guard_settings.storage_uri))
    odd = b'{"a":"\\"\\\\ \xc3\xa9"}\x00\xff\xfe'
    trips.later(setv(f"{prefix}:v1", "60", odd), setv(f"{prefix}:v2", "60", b""))
    replies = trips.run("test", [("MGET", f"{prefix}:v1", f"{prefix}:v2"),
                                 ("TTL", f"{prefix}:v1")])
    assert replies == [[odd, b""], 60]


def test_a_slide_counts_a_bucket_it_never_saw_as_zero(
        redis_guard_settings: GuardSettings) -> None:  # noqa: F811
    prefix = redis_guard_settings.key_prefix
    trips = Trips(redis.Redis.from_url(redis_guard_settings.storage_uri))
    slide = ("SLIDE", f"{prefix}:c:2", f"{prefix}:c:1", "121", "0",
             f"{prefix}:d:2", f"{prefix}:d:1", "121", "3")
    [first] = trips.run("test", [slide])
    trips.run("test", [("SET", f"{prefix}:c:1", "5")])
    [second] = trips.run("test", [slide])
    assert [int(c) if c is not None else 0 for c in first] == [0, 0, 3, 0]
    assert [int(c) if c is not None else 0 for c in second] == [0, 5, 6, 0]
