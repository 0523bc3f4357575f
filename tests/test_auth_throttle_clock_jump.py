"""The login throttle across a wall clock that jumps: `limits`' moving windows on the
injected clock (memory storage, ManualClock.jump), and on the real Redis two instances
whose clocks differ by an hour (the entries there carry the writing process's clock, so a
jump on one host reads as such a difference: docs/auth.md "Clock jumps")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from guard_fixtures import REDIS_URL, redis_prefix
from rempart.auth.config import AuthSettings
from rempart.auth.throttle import Attempt, LoginThrottle
from rempart.auth.throttle_storage import make_limiter
from rempart.clock import Clock, ManualClock, SystemClock

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
HOUR = 3600.0
CFG = AuthSettings(throttle_global_failures_per_minute=10**6)


class OffsetClock:
    """The system clock, `offset` seconds off: another host's clock, an hour wrong."""

    def __init__(self, offset: float) -> None:
        self._system = SystemClock()
        self._offset = dt.timedelta(seconds=offset)

    def now(self) -> dt.datetime:
        return self._system.now() + self._offset

    def monotonic(self) -> float:
        return self._system.monotonic()


def failing(gate: LoginThrottle, attempt: Attempt, times: int) -> None:
    for _ in range(times):
        gate.failed(attempt)


def test_a_clock_set_back_does_not_lock_an_honest_user_out_for_the_jump() -> None:
    """Seven failures (a wait of 4 s), then the clock back an hour: before, the wait read
    3,604 s (the gate shut at a time now an hour ahead); it is the 4 s it was."""
    clock = ManualClock(START)
    gate = LoginThrottle(limiter=make_limiter("memory://", clock), clock=clock, settings=CFG)
    attempt = Attempt(login_key="k", address="192.0.2.1", known_device="d")
    failing(gate, attempt, 7)
    assert gate.retry_after(attempt) == 4
    clock.jump(-HOUR)
    with capture_logs() as logs:
        assert gate.retry_after(attempt) == 4
    assert [e["what"] for e in logs if e["event"] == "auth.clock_anomaly"] == [
        "login_throttle_gate"]
    clock.advance(4)
    assert gate.retry_after(attempt) == 0
    # The failures before the jump still count (the next one waits 8 s): nothing forgiven.
    gate.failed(attempt)
    assert gate.retry_after(attempt) == 8


def test_a_clock_set_forward_frees_one_window_of_attempts_and_no_more() -> None:
    """Set forward, the windows empty at once: an attacker's count starts again (what
    an hour's wait gives too), the free failures then the doubling delays as before."""
    clock = ManualClock(START)
    gate = LoginThrottle(limiter=make_limiter("memory://", clock), clock=clock, settings=CFG)
    attempt = Attempt(login_key="k", address="192.0.2.1")
    failing(gate, attempt, 9)
    assert gate.retry_after(attempt) == 16
    clock.jump(HOUR)
    assert gate.retry_after(attempt) == 0
    failing(gate, attempt, CFG.throttle_account_free_failures)
    assert gate.retry_after(attempt) == 1


@pytest.fixture
def namespace() -> Iterator[str]:
    with redis_prefix() as name:
        yield name


def redis_gate(namespace: str, clock: Clock) -> LoginThrottle:
    cfg = AuthSettings(throttle_storage=REDIS_URL, throttle_global_failures_per_minute=10**6)
    return LoginThrottle(limiter=make_limiter(REDIS_URL, clock), clock=clock, settings=cfg,
                         namespace=namespace)


def test_on_redis_an_instance_an_hour_behind_waits_the_delay_not_the_hour(
        namespace: str) -> None:
    writer = redis_gate(namespace, SystemClock())
    attempt = Attempt(login_key="k", address="192.0.2.1")
    failing(writer, attempt, 8)  # a wait of 8 s
    behind = redis_gate(namespace, OffsetClock(-HOUR))
    assert 7 < behind.retry_after(attempt) <= 8  # it read 3,608 s


def test_on_redis_an_instance_an_hour_ahead_does_not_pass_a_shut_gate(
        namespace: str) -> None:
    writer = redis_gate(namespace, SystemClock())
    attempt = Attempt(login_key="k", address="192.0.2.1")
    failing(writer, attempt, 8)
    ahead = redis_gate(namespace, OffsetClock(HOUR))
    assert 1 <= ahead.retry_after(attempt) <= 8  # it read 0: the attempt went ahead
