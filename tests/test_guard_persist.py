"""The memory-mode guard's state in the database: what it learnt and what it contained
survive a restart; unreadable rows never crash the start nor lift a containment; the
snapshot stays off the check path (rempart.guard.persist)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import random
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, event, insert
from structlog.testing import capture_logs

from guard_streams import START, HonestPractice, PracticeProfile, World
from rempart.clock import ManualClock
from rempart.core.care import Profession
from rempart.guard import (
    Action,
    CheckContext,
    Decision,
    Guard,
    GuardUnavailable,
    LookupOutcome,
    MemoryAlertSink,
    SizeClass,
)
from rempart.guard.codec import dump, dump_patients
from rempart.guard.models import ACCOUNT, SESSION, GuardStateRow
from rempart.guard.peers import PeerProfiles
from rempart.guard.persist import FORMAT, GuardSnapshots
from rempart.guard.state import MemoryGuardState
from rempart.runtime import Runtime
from rempart.settings import Settings
from rempart.storage.engine import make_engine
from rempart.storage.migrate import upgrade
from rempart.web import create_app

HOME = "192.0.2.10"
AWAY = "198.51.100.10"


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    made = make_engine(settings)
    upgrade(made)
    try:
        yield made
    finally:
        made.dispose()


def start(engine: Engine, clock: ManualClock, *,
          load: bool = True) -> tuple[Guard, MemoryGuardState, GuardSnapshots]:
    """A guard as a process starts it: its state loaded from the database first."""
    state = MemoryGuardState(clock)
    snapshots = GuardSnapshots(engine=engine, state=state, clock=clock)
    if load:
        snapshots.load()
    guard = Guard(state=state, profiles=PeerProfiles.default(), clock=clock,
                  alerts=MemoryAlertSink(), journal=snapshots)
    return guard, state, snapshots


def to(clock: ManualClock, when: dt.datetime) -> None:
    clock.advance((when - clock.now()).total_seconds())


def api_check(guard: Guard, clock: ManualClock, *, key: str, address: str = HOME,
              client: str = "client:7") -> Decision:
    """A check by an API client's key (the gate's ids: client account, key session)."""
    ctx = CheckContext(account_id=client, organisation_id="o7",
                       session_id=f"api:{client[7:]}|jkt:{key}",
                       profession=Profession.PHARMACY, size_class=SizeClass.SMALL,
                       departement="33", address=address, device_id=f"jkt:{key}",
                       at=clock.now())
    decision = guard.before_check(ctx)
    if decision.discloses:
        decision = guard.after_lookup(ctx, LookupOutcome(
            matched=True, person_key=f"p-{clock.now().timestamp()}", departement="33",
            covered=True, check_reference=None))
    clock.advance(20.0)
    return decision


def test_a_learnt_profile_comes_back_and_decides_as_before(engine: Engine) -> None:
    clock = ManualClock(START)
    guard, state, snapshots = start(engine, clock)
    world = World(guard, clock=clock)
    # Every check claimed: no claim left pending across the restart (those are not kept).
    practice = HonestPractice(world, random.Random(7), 1,
                              dataclasses.replace(PracticeProfile(), claim_rate=1.0))
    practice.schedule(5)  # Monday to Friday
    world.run()  # and the claims, the last ones on Sunday
    clock.advance(86400.0)  # a quiet day: the recent windows are empty
    opening = clock.now() + dt.timedelta(hours=9)
    assert snapshots.snapshot() >= 2  # the profile and the patient filter
    assert snapshots.snapshot() == 0  # nothing changed since

    # Each guard on its own clock (its windows read it), all at the same time.
    restarted, state2, _ = start(engine, later := ManualClock(clock.now()))
    account = practice.account_id
    assert dump(state2.account(account)) == dump(state.account(account))  # type: ignore[arg-type]
    assert dump_patients(state2.patients(account)) == dump_patients(  # type: ignore[arg-type]
        state.patients(account))  # type: ignore[arg-type]
    # What a restart did before: nothing loaded.
    forgetful, _, _ = start(engine, other := ManualClock(clock.now()), load=False)

    def next_morning(on: Guard, clock: ManualClock) -> list[tuple[str, list[str], float]]:
        """The next morning's checks: recurring patients, a few new ones."""
        to(clock, opening)
        rng = random.Random(11)
        seen: list[tuple[str, list[str], float]] = []
        for i in range(100):
            identity = rng.choice(practice.pool)
            ctx = dataclasses.replace(practice.context(), session_id="next",
                                      at=clock.now())
            if i >= 80:  # then a session from a device and network new to the account
                ctx = dataclasses.replace(ctx, session_id="elsewhere", device_id="stranger",
                                          address="198.51.100.7")
            for decision in (on.before_check(ctx), on.after_lookup(ctx, LookupOutcome(
                    matched=True, person_key=identity.key, departement=identity.departement,
                    covered=True, check_reference=f"m{i}"))):
                seen.append((decision.action.name, decision.reasons, decision.score))
            clock.advance(45.0)
        return seen

    expected = next_morning(guard, clock)
    assert next_morning(restarted, later) == expected
    assert next_morning(forgetful, other) != expected  # the comparison can tell


def test_a_contained_api_key_and_client_stay_refused_after_a_restart(
        engine: Engine) -> None:
    clock = ManualClock(START + dt.timedelta(hours=9))
    guard, _, _ = start(engine, clock)
    assert api_check(guard, clock, key="a").action is Action.ALLOW
    # The key's token replayed from another network: a step-up it cannot answer...
    assert api_check(guard, clock, key="a", address=AWAY).action is Action.STEP_UP
    # ...then refused until the session is suspended.
    decisions = [api_check(guard, clock, key="a", address=AWAY).action for _ in range(40)]
    assert decisions[-1] is Action.SUSPEND_SESSION
    # New keys of the client from the network that never answered: the client goes.
    for n in range(6):
        last = api_check(guard, clock, key=f"b{n}", address=AWAY).action
    assert last is Action.SUSPEND_ACCOUNT

    # No snapshot taken: the containments were written when decided.
    restarted, _, _ = start(engine, clock)
    assert api_check(restarted, clock, key="a").action is Action.SUSPEND_ACCOUNT
    assert api_check(restarted, clock, key="fresh").action is Action.SUSPEND_ACCOUNT
    restarted.restore_account(account_id="client:7")  # an operator restores the client
    assert api_check(restarted, clock, key="new").action is Action.ALLOW

    again, _, _ = start(engine, clock)  # the restore survives a restart too...
    assert api_check(again, clock, key="new").action is Action.ALLOW
    # ...and the key contained on its own stays so (a restore is of the client).
    assert api_check(again, clock, key="a", address=AWAY).action is Action.SUSPEND_SESSION


def test_unreadable_rows_warn_without_their_content_and_stay_contained(
        engine: Engine) -> None:
    clock = ManualClock(START + dt.timedelta(hours=9))
    secret = b'{"nir": "1850775123456", "name": "DUPONT"'
    now = clock.now().timestamp()
    rows = [
        {"kind": ACCOUNT, "key": "client:9", "account_id": "client:9", "contained": True,
         "version": FORMAT, "last": now, "body": secret},
        {"kind": ACCOUNT, "key": "client:8", "account_id": "client:8", "contained": False,
         "version": FORMAT + 1, "last": now, "body": b"{}"},
        {"kind": SESSION, "key": "api:8|jkt:k", "account_id": "client:8", "contained": True,
         "version": FORMAT, "last": now, "body": secret},
    ]
    with engine.begin() as conn:
        conn.execute(insert(GuardStateRow), rows)
    with capture_logs() as logs:
        guard, _, snapshots = start(engine, clock)
    warned = [e for e in logs if e["event"] == "guard.snapshot.unreadable"]
    assert {(e["kind"], e["key"]) for e in warned} == {
        (ACCOUNT, "client:9"), (ACCOUNT, "client:8"), (SESSION, "api:8|jkt:k")}
    assert "1850775123456" not in repr(logs)
    assert "DUPONT" not in repr(logs)
    # Contained before: contained still. Never contained: starts afresh from its peers.
    assert api_check(guard, clock, key="x", client="client:9").action is Action.SUSPEND_ACCOUNT
    assert api_check(guard, clock, key="k", client="client:8").action is Action.SUSPEND_SESSION
    assert api_check(guard, clock, key="y", client="client:8").action is Action.ALLOW
    snapshots.snapshot()  # the unreadable contained account is written back, contained
    with capture_logs() as logs:
        again, _, _ = start(engine, clock)
    assert ("client:9" not in {e.get("key") for e in logs
                               if e["event"] == "guard.snapshot.unreadable"})
    assert api_check(again, clock, key="z", client="client:9").action is Action.SUSPEND_ACCOUNT


def test_checks_touch_no_database_and_a_database_error_breaks_no_check(
        engine: Engine, tmp_path: object) -> None:
    clock = ManualClock(START + dt.timedelta(hours=9))
    guard, _, snapshots = start(engine, clock)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda *args: statements.append(str(args[2])))
    gaps = random.Random(3)
    for _ in range(30):
        assert api_check(guard, clock, key="a").action is Action.ALLOW
        clock.advance(gaps.uniform(30.0, 300.0))  # a person's irregular rhythm
    assert statements == []  # allowed checks: not one statement
    snapshots.snapshot()
    assert statements  # the snapshot, in its own time
    statements.clear()
    api_check(guard, clock, key="a", address=AWAY)  # a containment: written at once
    assert any("guard_state" in s for s in statements)

    # A database without the table (or down): checks and containments go on.
    broken = make_engine(Settings.load(database_url=f"sqlite:///{tmp_path}/none.db"))
    try:
        state = MemoryGuardState(clock)
        failing = GuardSnapshots(engine=broken, state=state, clock=clock)
        on_broken = Guard(state=state, profiles=PeerProfiles.default(), clock=clock,
                          alerts=MemoryAlertSink(), journal=failing)
        with capture_logs() as logs:
            assert api_check(on_broken, clock, key="c").action is Action.ALLOW
            assert api_check(on_broken, clock, key="c", address=AWAY).action is Action.STEP_UP
            assert failing.snapshot() == 0
        assert any(e["event"] == "guard.snapshot.write_failed" for e in logs)
    finally:
        broken.dispose()




def test_the_served_app_loads_before_serving_and_snapshots_at_shutdown(
        settings: Settings) -> None:
    clock = ManualClock(START + dt.timedelta(hours=9))
    runtime = Runtime.open(settings, clock=clock, create_keys=True)
    try:
        app = create_app(runtime)
        guard = app.state.guard_gate._guard  # the served app's own guard
        assert api_check(guard, clock, key="a").action is Action.ALLOW

        async def serve() -> None:  # what uvicorn does around the requests
            async with app.router.lifespan_context(app):
                pass

        with capture_logs() as logs:
            asyncio.run(serve())
        written = [e for e in logs if e["event"] == "guard.snapshot.written"]
        assert written[-1]["rows"] >= 1  # the client's profile, at shutdown
    finally:
        runtime.close()
    runtime = Runtime.open(settings, clock=clock)
    try:
        runtime.build_guard(alerts=MemoryAlertSink())
        assert runtime.guard_snapshots is not None
        state = runtime.guard_snapshots._state
        assert state.account("client:7") is not None  # back before the first check
    finally:
        runtime.close()


def test_a_database_unreadable_at_start_holds_checks_until_it_is_read(
        engine: Engine, tmp_path: object) -> None:
    clock = ManualClock(START + dt.timedelta(hours=9))
    with engine.begin() as conn:
        conn.execute(insert(GuardStateRow), [{
            "kind": ACCOUNT, "key": "client:7", "account_id": "client:7",
            "contained": True, "version": FORMAT, "last": clock.now().timestamp(),
            "body": b"{}"}])
    down = make_engine(Settings.load(database_url=f"sqlite:///{tmp_path}/none.db"))
    state = MemoryGuardState(clock)
    snapshots = GuardSnapshots(engine=down, state=state, clock=clock)
    with capture_logs() as logs:
        assert snapshots.load() is None  # the start goes on (readiness names the database)
    assert any(e["event"] == "guard.snapshot.load_failed" for e in logs)
    guard = Guard(state=state, profiles=PeerProfiles.default(), clock=clock,
                  alerts=MemoryAlertSink(), journal=snapshots)
    with pytest.raises(GuardUnavailable):  # 503: nothing disclosed, nothing lifted
        api_check(guard, clock, key="a")
    down.dispose()
    snapshots._engine = engine  # the database is back
    assert api_check(guard, clock, key="a").action is Action.SUSPEND_ACCOUNT
    assert state._held is None  # read: the check path tests one attribute again
