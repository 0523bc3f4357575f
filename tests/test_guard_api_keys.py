"""An API key the guard suspended stays suspended until an operator restores it, in
memory, in the saved guard state and in Redis, however long it stays idle (its session
is forgotten after 12 h); a client's restore frees the keys refused with it; one key
too many suspends the client (rempart.guard.rungs.Rungs.keep_key)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import Engine

from guard_fixtures import REDIS_URL, redis_prefix
from rempart.clock import ManualClock
from rempart.core.care import Profession
from rempart.guard import (
    Action,
    CheckContext,
    Decision,
    Guard,
    GuardSettings,
    LookupOutcome,
    MemoryAlertSink,
    SizeClass,
    StepUpFactor,
    build_guard,
)
from rempart.guard.context import Channel
from rempart.guard.ladder import LadderPolicy
from rempart.guard.peers import PeerProfiles
from rempart.guard.persist import GuardSnapshots
from rempart.guard.profile import MAX_SUSPENDED_KEYS
from rempart.guard.rungs import TOO_MANY_KEYS
from rempart.guard.state import SESSION_IDLE_S, MemoryGuardState
from rempart.settings import Settings
from rempart.storage.engine import make_engine
from rempart.storage.migrate import upgrade

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
HOME = "192.0.2.10"
AWAY = "198.51.100.10"


class Backend:
    """A guard on one backend, and what 12 idle hours do to its sessions there."""

    def __init__(self, kind: str, clock: ManualClock, prefix: str | None = None,
                 ladder: LadderPolicy | None = None) -> None:
        self.kind, self.clock, self.prefix = kind, clock, prefix
        settings = (GuardSettings(storage_uri=REDIS_URL, key_prefix=prefix) if prefix
                    else GuardSettings())
        self.guard = build_guard(settings, clock=clock, alerts=MemoryAlertSink())
        if ladder is not None:
            self.guard = Guard(state=self.guard._state, profiles=PeerProfiles.default(),
                               clock=clock, alerts=MemoryAlertSink(), ladder=ladder)

    def idle(self) -> None:
        """13 hours pass: memory forgets idle sessions as it saves others (every 64
        saves), Redis lets expire what lives no longer than a session."""
        self.clock.advance(13 * 3600)
        for n in range(70):
            check(self.guard, self.clock, key="k", client=f"client:o{n}",
                  address=f"203.0.{n}.1")
        if self.prefix is not None:
            client = redis.Redis.from_url(REDIS_URL)
            for name in client.scan_iter(f"{self.prefix}*"):
                if 0 <= int(client.ttl(name)) <= SESSION_IDLE_S:
                    client.delete(name)
            client.close()


@pytest.fixture(params=["memory", "redis"])
def on(request: pytest.FixtureRequest) -> Iterator[Backend]:
    clock = ManualClock(T0)
    if request.param == "memory":
        yield Backend("memory", clock)
        return
    with redis_prefix() as prefix:
        yield Backend("redis", clock, prefix)


def check(guard: Guard, clock: ManualClock, *, key: str, address: str = HOME,
          client: str = "client:7") -> Decision:
    """A check by an API client's key, with the gate's ids (client account, key session)."""
    ctx = CheckContext(account_id=client, organisation_id="o7",
                       session_id=f"api:{client[7:]}|jkt:{key}",
                       profession=Profession.PHARMACY, size_class=SizeClass.SMALL,
                       departement="33", address=address, device_id=f"jkt:{key}",
                       at=clock.now(), channel=Channel.API)
    decision = guard.before_check(ctx)
    if decision.discloses:
        decision = guard.after_lookup(ctx, LookupOutcome(
            matched=True, person_key=f"p-{clock.now().timestamp()}", departement="33",
            covered=True, check_reference=None))
    clock.advance(20.0)
    return decision


def suspend_key(guard: Guard, clock: ManualClock, key: str) -> None:
    """The key's token replayed from another network: a step-up never answered, then
    refused until the key is suspended."""
    assert check(guard, clock, key=key).action is Action.ALLOW
    assert check(guard, clock, key=key, address=AWAY).action is Action.STEP_UP
    decisions = [check(guard, clock, key=key, address=AWAY).action for _ in range(40)]
    assert decisions[-1] is Action.SUSPEND_SESSION


def test_a_suspended_key_stays_suspended_after_12_idle_hours(on: Backend) -> None:
    guard, clock = on.guard, on.clock
    suspend_key(guard, clock, "a")
    on.idle()
    # Its session forgotten, the key is still refused, from anywhere...
    assert check(guard, clock, key="a", address=AWAY).action is Action.SUSPEND_SESSION
    assert check(guard, clock, key="a").action is Action.SUSPEND_SESSION
    # ...and a person of the practice cannot release it with a step-up's code.
    assert not guard.on_step_up(session_id="api:7|jkt:a", factor=StepUpFactor.TOTP)
    assert check(guard, clock, key="b").action is Action.ALLOW  # the client's other keys
    # A client's restore does not lift it: a restore of the key does.
    guard.restore_account(account_id="client:7")
    assert check(guard, clock, key="a").action is Action.SUSPEND_SESSION
    assert guard.restore_key(account_id="client:7", session_id="api:7|jkt:a")
    assert not guard.restore_key(account_id="client:7", session_id="api:7|jkt:a")
    assert check(guard, clock, key="a").action is Action.ALLOW
    on.idle()
    assert check(guard, clock, key="a").action is Action.ALLOW


def test_the_client_s_restore_frees_the_keys_refused_with_it(on: Backend) -> None:
    guard, clock = on.guard, on.clock
    assert check(guard, clock, key="own").action is Action.ALLOW
    profile = guard._state.account("client:7")
    assert profile is not None
    profile.suspended, profile.suspension = True, ("account suspended pending review",)
    guard._state.save_account("client:7", profile)
    assert check(guard, clock, key="own").action is Action.SUSPEND_ACCOUNT
    on.idle()
    assert check(guard, clock, key="own").action is Action.SUSPEND_ACCOUNT
    guard.restore_account(account_id="client:7")
    # The practice's own key, refused while its client was suspended, checks again.
    assert check(guard, clock, key="own").action is Action.ALLOW


def test_one_suspended_key_too_many_suspends_the_client(on: Backend) -> None:
    # Spread over weeks, the unanswered step-ups alone would not suspend the client:
    # a ladder that never does shows the bound itself.
    ladder = LadderPolicy(unresolved_limit=1000.0)
    replaced = Backend(on.kind, on.clock, on.prefix, ladder=ladder)
    guard, clock = replaced.guard, replaced.clock
    for n in range(MAX_SUSPENDED_KEYS + 1):
        clock.advance(8 * 86400)
        check(guard, clock, key=f"k{n}")
        for _ in range(40):
            last = check(guard, clock, key=f"k{n}", address=AWAY).action
            if last is not Action.STEP_UP:
                break
        assert last is Action.SUSPEND_SESSION
        profile = guard._state.account("client:7")
        assert profile is not None
        assert profile.suspended is (n == MAX_SUSPENDED_KEYS)
    assert check(guard, clock, key="fresh").action is Action.SUSPEND_ACCOUNT
    assert len(profile.suspended_keys) == MAX_SUSPENDED_KEYS
    assert "api:7|jkt:k0" not in profile.suspended_keys  # the oldest let go...
    assert TOO_MANY_KEYS in profile.suspension  # ...with the client suspended as a whole


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    made = make_engine(settings)
    upgrade(made)
    try:
        yield made
    finally:
        made.dispose()


def start(engine: Engine, clock: ManualClock) -> Guard:
    state = MemoryGuardState(clock)
    snapshots = GuardSnapshots(engine=engine, state=state, clock=clock)
    snapshots.load()
    return Guard(state=state, profiles=PeerProfiles.default(), clock=clock,
                 alerts=MemoryAlertSink(), journal=snapshots)


def test_a_suspended_key_stays_suspended_across_a_restart_after_12_hours(
        engine: Engine) -> None:
    clock = ManualClock(T0)
    guard = start(engine, clock)
    suspend_key(guard, clock, "a")
    clock.advance(13 * 3600)
    # No snapshot taken: the key's suspension was written with its client's profile.
    restarted = start(engine, clock)
    assert check(restarted, clock, key="a").action is Action.SUSPEND_SESSION
    assert restarted.restore_key(account_id="client:7", session_id="api:7|jkt:a")
    again = start(engine, clock)  # the restore survives a restart too
    assert check(again, clock, key="a").action is Action.ALLOW

