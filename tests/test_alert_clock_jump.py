"""A clock jump on a served instance: its one operator alert, stored, audited and sent as
an OCSF finding, and the alerts already waiting for the webhook still sent after it, the
clock set forward or back (rempart.guard.clockwatch, rempart.alerts.store.shift_pending)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from rempart.alerts.outbox import AlertOutbox, retry_delay
from rempart.alerts.store import AlertSource, AlertStore, StoredAlertSink
from rempart.audit import AuditLog
from rempart.clock import ManualClock
from rempart.core.care import Profession
from rempart.guard import CheckContext, LookupOutcome, MemoryAlertSink, SizeClass
from rempart.guard.clockwatch import ClockWatch
from rempart.runtime import Runtime
from test_alert_webhook import START, Receiver, delivery_for, store_guard_alert

DAY = 86400.0


@pytest.fixture
def flaky() -> Iterator[Receiver]:
    found = Receiver(failures=1)
    yield found
    found.close()


@pytest.mark.parametrize("jump", [3 * DAY, -3600.0])
def test_an_alert_waiting_for_the_webhook_is_sent_after_a_jump(
        runtime: Runtime, flaky: Receiver, jump: float) -> None:
    clock = ManualClock(START)
    store_guard_alert(runtime.engine, clock)
    delivery = delivery_for(runtime.engine, clock, flaky.url)
    assert delivery.drain().failed == 1  # to be tried again after retry_delay(1)
    with AuditLog(engine=runtime.engine, clock=clock) as audit:
        watch = ClockWatch(clock=clock, alerts=StoredAlertSink(engine=runtime.engine,
                                                               audit=audit))
        watch.ts()
        clock.advance(1)
        clock.jump(jump)
        watch.ts()  # the guard's next reading: the jump raised
        watch.ts()
    clock.advance(retry_delay(1) * 2)  # the real time the retry was to wait, and more
    assert delivery.drain().delivered == 2
    delivery.close()
    assert AlertOutbox(engine=runtime.engine, clock=clock).pending() == 0
    guard_alert, clock_alert = flaky.bodies
    assert guard_alert["unmapped"]["account_id"] == "17"
    assert clock_alert["finding_info"]["types"] == ["clock"]
    assert clock_alert["finding_info"]["title"].startswith("The server's clock jumped")
    assert clock_alert["severity_id"] == 4
    assert clock_alert["unmapped"] == {}  # no account, no session, no one
    way = "forward" if jump > 0 else "back"
    assert f"jumped {way} by" in clock_alert["message"]


def test_the_served_guard_raises_one_alert_per_jump(runtime: Runtime) -> None:
    clock = ManualClock(START)
    served = Runtime(settings=runtime.settings, engine=runtime.engine, vault=runtime.vault,
                     clock=clock)
    alerts = MemoryAlertSink()
    guard = served.build_guard(alerts=alerts)
    assert guard is not None

    def check(n: int) -> None:
        ctx = CheckContext(account_id="a1", organisation_id="o1", session_id="s1",
                           profession=Profession.PHARMACY, size_class=SizeClass.SMALL,
                           departement="69", address="192.0.2.10", device_id="d1",
                           at=clock.now())
        guard.before_check(ctx)
        guard.after_lookup(ctx, LookupOutcome(matched=True, person_key=f"p{n}",
                                              departement="69", covered=True,
                                              check_reference=f"r{n}"))

    check(0)
    clock.advance(60)
    clock.jump(-3600)
    for n in range(1, 6):
        check(n)
        clock.advance(60)
    clock.jump(2 * DAY)
    check(6)
    assert [j.seconds for j in alerts.clock_jumps] == [-3600, 2 * DAY]
    assert alerts.alerts == []


def test_a_jump_is_stored_once_without_anyone_in_it(runtime: Runtime) -> None:
    clock = ManualClock(START)
    with AuditLog(engine=runtime.engine, clock=clock) as audit:
        watch = ClockWatch(clock=clock, alerts=StoredAlertSink(engine=runtime.engine,
                                                               audit=audit))
        watch.ts()
        clock.jump(5 * DAY)
        for _ in range(3):
            watch.ts()
            clock.advance(30)
    [stored] = AlertStore(engine=runtime.engine).recent()
    assert stored.source is AlertSource.CLOCK
    assert stored.account_id is stored.session_id is stored.organisation_id is None
    assert stored.created_at == START + dt.timedelta(days=5)  # the wall time that showed it
