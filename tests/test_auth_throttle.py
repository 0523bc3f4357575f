"""The throttle on its own: `limits` moving windows on the injected clock, and the
property that matters: whatever happened before, the wait is bounded."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from limits import RateLimitItemPerSecond
from limits.strategies import MovingWindowRateLimiter

from rempart.auth.config import AuthSettings
from rempart.auth.throttle import Attempt, LoginThrottle
from rempart.auth.throttle_storage import make_limiter
from rempart.clock import ManualClock
from rempart.core.errors import ConfigurationError
from rempart.ratelimit import ClockedMemoryStorage

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def throttle(clock: ManualClock, cfg: AuthSettings | None = None) -> LoginThrottle:
    return LoginThrottle(limiter=make_limiter("memory://", clock), clock=clock,
                         settings=cfg or AuthSettings())


def test_the_moving_window_slides_with_the_injected_clock() -> None:
    clock = ManualClock(START)
    limiter = MovingWindowRateLimiter(ClockedMemoryStorage(clock))
    item = RateLimitItemPerSecond(3, 60)
    assert all(limiter.hit(item, "k") for _ in range(3))
    assert not limiter.hit(item, "k")
    clock.advance(30)
    assert not limiter.test(item, "k")
    stats = limiter.get_window_stats(item, "k")
    assert stats.remaining == 0
    assert stats.reset_time == START.timestamp() + 60
    clock.advance(30.001)
    assert limiter.test(item, "k")
    assert limiter.hit(item, "k")
    limiter.clear(item, "k")
    assert limiter.get_window_stats(item, "k").remaining == 3


def test_failures_expire_after_the_window() -> None:
    clock = ManualClock(START)
    gate = throttle(clock)
    attempt = Attempt(login_key="k", address="192.0.2.1")
    for _ in range(5):
        gate.failed(attempt)
    assert gate.retry_after(attempt) == 1
    clock.advance(15 * 60 + 1)
    assert gate.retry_after(attempt) == 0
    gate.failed(attempt)
    assert gate.retry_after(attempt) == 0  # one failure in the new window is free


def test_a_known_device_has_its_own_scope() -> None:
    clock = ManualClock(START)
    gate = throttle(clock)
    for n in range(40):
        gate.failed(Attempt(login_key="victim", address=f"203.0.113.{n}"))
    assert gate.retry_after(Attempt(login_key="victim", address="192.0.2.1")) > 0
    assert gate.retry_after(Attempt(login_key="victim", address="192.0.2.1",
                                    known_device="abc")) == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["fail", "wait"]),
                          st.floats(min_value=0, max_value=120)), max_size=80))
def test_the_wait_is_always_bounded_and_waiting_it_out_always_works(
        steps: list[tuple[str, float]]) -> None:
    clock = ManualClock(START)
    cfg = AuthSettings()
    gate = throttle(clock, cfg)
    attempt = Attempt(login_key="someone", address="192.0.2.1")
    for action, seconds in steps:
        if action == "wait":
            clock.advance(seconds)
        elif gate.retry_after(attempt) == 0:
            gate.failed(attempt)
        wait = gate.retry_after(attempt)
        assert 0 <= wait <= cfg.throttle_max_delay_seconds
    clock.advance(gate.retry_after(attempt))
    assert gate.retry_after(attempt) == 0


def test_the_storage_forgets_idle_keys() -> None:
    clock = ManualClock(START)
    storage = ClockedMemoryStorage(clock)
    for n in range(1100):
        storage.acquire_entry(f"key-{n}", 10, 60)
        clock.advance(1)
    # keys idle for longer than their window were swept as new entries arrived
    assert len(storage) < 200


def test_the_first_delay_is_a_deployment_setting_checked_at_start_up() -> None:
    settings = AuthSettings.from_env({"REMPART_THROTTLE_BASE_DELAY_SECONDS": "20"})
    free = settings.throttle_account_free_failures
    waits = [throttle(ManualClock(START), settings).delay_for(n, free)
             for n in range(free, free + 3)]
    assert waits == [20, 40, 60]
    assert AuthSettings.from_env({}).throttle_base_delay_seconds == 1
    for bad in ("0", "-1", "1.5", "61", "soon"):
        with pytest.raises(ConfigurationError, match="REMPART_THROTTLE_BASE_DELAY_SECONDS"):
            AuthSettings.from_env({"REMPART_THROTTLE_BASE_DELAY_SECONDS": bad})
