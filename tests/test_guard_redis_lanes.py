"""The guard on Redis called from several threads at once (rempart.guard.redis_trips's
lanes): calls about one account keep their order and see each other's writes, calls
about other accounts go on meanwhile, and a failure still fails closed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable

import pytest
import redis
from limits.storage import RedisStorage

from guard_fixtures import redis_guard_settings  # noqa: F401  (fixture)
from rempart.clock import ManualClock
from rempart.core.care import Profession
from rempart.guard import (
    CheckContext,
    GuardSettings,
    GuardUnavailable,
    LookupOutcome,
    MemoryAlertSink,
    SizeClass,
    redis_trips,
)
from rempart.guard.guard import Guard
from rempart.guard.peers import PeerProfiles
from rempart.guard.redis_state import RedisGuardState
from rempart.guard.redis_trips import Trips

T0 = dt.datetime(2025, 3, 4, 8, 0, tzinfo=dt.UTC)
# A liveness bound for joining threads, not a measured time: a thread still running
# then is stuck behind a lock it should not wait for.
STUCK_S = 60


def redis_guard(settings: GuardSettings) -> tuple[Guard, RedisGuardState]:
    client = redis.Redis.from_url(settings.storage_uri)
    storage = RedisStorage(settings.storage_uri, key_prefix=f"{settings.key_prefix}-limits",
                           wrap_exceptions=True)
    state = RedisGuardState(client, storage, prefix=settings.key_prefix)
    guard = Guard(state=state, profiles=PeerProfiles.default(), clock=ManualClock(T0),
                  alerts=MemoryAlertSink())
    return guard, state


def context(account: str, session: str, at: dt.datetime = T0) -> CheckContext:
    return CheckContext(account_id=account, organisation_id=f"o-{account}", session_id=session,
                        profession=Profession.PHARMACY, size_class=SizeClass.SMALL,
                        departement="33", address="192.0.2.10", device_id=f"d-{account}",
                        at=at)


def in_thread(work: Callable[[], None]) -> None:
    """Run `work` in a thread of its own; its exception, if any, raised here."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # handed to the test's thread
            failed.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(STUCK_S)
    assert not thread.is_alive(), "the thread is stuck behind a lock"
    if failed:
        raise failed[0]


def test_a_check_sees_what_an_earlier_check_of_its_account_left_in_another_thread(
        redis_guard_settings: GuardSettings) -> None:  # noqa: F811
    guard, state = redis_guard(redis_guard_settings)
    ctx = context("a1", "s1")

    def first_step() -> None:
        with guard.serial("a1"):
            # Allowed: its writes wait for the next trip, in the account's lane.
            assert guard.before_check(ctx).discloses

    in_thread(first_step)
    seen: list[int] = []

    def read() -> None:
        with guard.serial("a1"):
            session = state.session("s1")
            assert session is not None
            seen.append(session.attempts)

    in_thread(read)
    assert seen == [1]


def test_no_update_of_an_account_is_lost_between_threads(
        redis_guard_settings: GuardSettings) -> None:  # noqa: F811
    guard, state = redis_guard(redis_guard_settings)
    threads, checks = 6, 15
    found = LookupOutcome(matched=True, person_key="p1", departement="33", covered=True)

    def checking(n: int) -> Callable[[], None]:
        def work() -> None:
            for i in range(checks):
                # Two accounts, shared by all threads, and one of each thread's own.
                for account in ("shared-a", "shared-b", f"own-{n}"):
                    ctx = context(account, f"s-{account}",
                                  T0 + dt.timedelta(seconds=20 * i + n))
                    with guard.serial(account):
                        decision = guard.before_check(ctx)
                    if decision.discloses:
                        with guard.serial(account):
                            guard.after_lookup(ctx, dataclasses.replace(
                                found, check_reference=f"r-{account}-{n}-{i}"))
        return work

    workers = [threading.Thread(target=checking(n)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(STUCK_S)
    assert not any(worker.is_alive() for worker in workers)
    # Every check's attempt counted in its session: each read-modify-write of an
    # account's state ran after the one before it, whatever thread it came from.
    with guard.serial(None):
        shared = [state.session(f"s-shared-{x}") for x in "ab"]
        own = [state.session(f"s-own-{n}") for n in range(threads)]
    assert [s.attempts if s else 0 for s in shared] == [threads * checks] * 2
    assert [s.attempts if s else 0 for s in own] == [checks] * threads


def test_other_accounts_go_on_while_one_account_is_held(
        redis_guard_settings: GuardSettings) -> None:  # noqa: F811
    guard, state = redis_guard(redis_guard_settings)
    lane = state.trips.lane
    held = "a1"
    other = next(f"a{n}" for n in range(2, 1000) if lane(f"a{n}") is not lane(held))

    def whole_check() -> None:
        ctx = context(other, "s2")
        with guard.serial(other):
            assert guard.before_check(ctx).discloses
        with guard.serial(other):
            assert guard.after_lookup(ctx, LookupOutcome(matched=False)).discloses

    with guard.serial(held):
        # Both steps of a check of another account, with their trips, while this thread
        # holds its account's lane (as a check waiting for Redis would).
        in_thread(whole_check)
    with guard.serial(None):
        session = state.session("s2")
    assert session is not None
    assert session.checks == 1


def test_a_lane_is_not_reentrant(redis_guard_settings: GuardSettings) -> None:  # noqa: F811
    trips = Trips(redis.Redis.from_url(redis_guard_settings.storage_uri))
    with trips.serial("a1"), pytest.raises(RuntimeError), trips.serial("a2"):
        pass
    # Released on the way out: the next call takes it again.
    with trips.serial("a1"):
        assert trips.run("read", [("GET", "nothing-here")]) == [None]


def test_redis_unreachable_fails_closed_and_frees_the_lane() -> None:
    # A port nothing listens on (the discard port, closed on test machines).
    trips = Trips(redis.Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.5,
                                       socket_timeout=0.5))
    for _ in range(2):
        with trips.serial("a1"):
            trips.later(("SET", "k", "v"))
            with pytest.raises(GuardUnavailable):
                trips.run("state read", [("GET", "k")])
    with pytest.raises(GuardUnavailable):
        trips.run("state read", [("GET", "k")])


def test_a_trip_the_server_has_no_script_for_runs_once_with_it(
        redis_guard_settings: GuardSettings,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A digest no server holds: the trip meets NOSCRIPT, as on a new or flushed server.
    monkeypatch.setattr(redis_trips, "BATCH_SHA", b"0" * 40)
    trips = Trips(redis.Redis.from_url(redis_guard_settings.storage_uri))
    key = f"{redis_guard_settings.key_prefix}:count"
    trips.later(("INCR", key))
    assert trips.run("read", [("INCR", key), ("GET", key)]) == [2, b"2"]
    assert trips.run("read", [("GET", key)]) == [b"2"]
