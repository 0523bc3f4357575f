"""The watch over the listed shared networks (rempart.guard.netwatch), on its own: seeded
days of honest traffic through a listed network (sizes, churn, a first day where every
organisation is new) raise nothing; many organisations new to the network within an
hour, or an entry that names its organisations serving mostly others, raise one alert
each, judged against the network's own history; in memory and in Redis (two workers on
one Redis: one alert, each organisation new once). Then the alert as the operator gets
it: stored, audited and shaped as an OCSF finding, naming the network and no one."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from structlog.testing import capture_logs

from guard_fixtures import REDIS_URL, redis_prefix
from rempart.alerts.ocsf import detection_finding
from rempart.alerts.store import AlertSource, AlertStore, StoredAlertSink
from rempart.audit import AuditLog
from rempart.clock import ManualClock
from rempart.guard.alerts import MemoryAlertSink, NetworkAlert
from rempart.guard.netwatch import (
    FOREIGN,
    NOVELTY,
    MemoryNetworkLedger,
    NetworkLedger,
    NetworkWatch,
)
from rempart.guard.persist import GuardSnapshots
from rempart.guard.redis_state import RedisGuardState
from rempart.guard.shared import SharedNetworks, parse_entries
from rempart.guard.state import MemoryGuardState
from rempart.runtime import Runtime

START = dt.datetime(2025, 3, 3, tzinfo=dt.UTC).timestamp()  # a Monday, 00:00 UTC
HOUR = 3600.0
DAY = 86400.0
HOSTED = parse_entries({"network": [{"label": "hosted", "cidrs": ["192.0.2.0/24"]}]})


def named(count: int) -> SharedNetworks:
    return parse_entries({"network": [{"label": "group", "cidrs": ["192.0.2.0/24"],
                                       "organisations": [f"org{i}" for i in range(count)]}]})


@pytest.fixture(params=["memory", "redis"])
def ledgers(request: pytest.FixtureRequest) -> Iterator[list[NetworkLedger]]:
    """Two ledgers over one store: one process's twice (memory), or two workers' (Redis)."""
    if request.param == "memory":
        ledger = MemoryNetworkLedger()
        yield [ledger, ledger]
        return
    with redis_prefix() as prefix:
        yield [RedisGuardState.connect(REDIS_URL, prefix=prefix).network_ledger()
               for _ in range(2)]


def honest_days(rng: random.Random, orgs: list[str], days: range,
                churn: float) -> list[tuple[float, str]]:
    """Each organisation's checks on working days (7:00-18:00 UTC), 3-40 a day; about
    `churn` organisations join per working day after the first (a practice onboarding,
    or one that checks once a week and shows up now)."""
    orgs = list(orgs)
    out = []
    joined = len(orgs)
    for day in days:
        if day % 7 in (5, 6):
            continue
        if day > days.start:
            for _ in range(rng.randint(0, round(2 * churn))):
                orgs.append(f"late{joined}")
                joined += 1
        for org in orgs:
            for _ in range(rng.randint(3, 40)):
                out.append((START + day * DAY + rng.uniform(7 * HOUR, 18 * HOUR), org))
    return sorted(out)


def play(watch: NetworkWatch, checks: list[tuple[float, str]], rng: random.Random) -> None:
    for ts, org in checks:
        watch.note(f"192.0.2.{rng.randint(1, 254)}", org, ts)


def surge(at: float, count: int, rng: random.Random, *, prefix: str = "new",
          checks: int = 6) -> list[tuple[float, str]]:
    """`count` organisations never seen there, each a few checks within the hour."""
    return sorted((at + rng.uniform(0, HOUR), f"{prefix}{i}")
                  for i in range(count) for _ in range(checks))


@pytest.mark.parametrize(("seed", "size", "churn"), [
    (0, 12, 0.0), (1, 40, 1.0), (2, 90, 2.0), (3, 200, 4.0)])
def test_honest_weeks_raise_nothing(ledgers: list[NetworkLedger], seed: int, size: int,
                                    churn: float) -> None:
    """Nine days from the listing on (a first day where all of them are new, a weekend,
    a Monday morning, a few joining each day)."""
    rng = random.Random(seed)
    sink = MemoryAlertSink()
    watch = NetworkWatch(HOSTED, ledger=ledgers[0], alerts=sink)
    play(watch, honest_days(rng, [f"org{i}" for i in range(size)], range(9), churn), rng)
    assert sink.network_alerts == []
    [view] = watch.views(START + 9 * DAY)
    assert not view.learning
    assert view.known >= size


def test_the_first_day_is_learnt_however_many_organisations_arrive(
        ledgers: list[NetworkLedger]) -> None:
    """Listed at 9:00 with 150 organisations behind it, all of them in the first hour:
    nothing. The same arrival a day later (other organisations) is an alert."""
    rng = random.Random(4)
    sink = MemoryAlertSink()
    watch = NetworkWatch(HOSTED, ledger=ledgers[0], alerts=sink)
    play(watch, surge(START + 9 * HOUR, 150, rng, prefix="org"), rng)
    play(watch, honest_days(rng, [f"org{i}" for i in range(150)], range(1, 2), 0.0), rng)
    assert sink.network_alerts == []
    assert watch.views(START + DAY)[0].learning
    play(watch, surge(START + 2 * DAY + 9 * HOUR, 150, rng), rng)
    assert [a.kind for a in sink.network_alerts] == [NOVELTY]


@pytest.mark.parametrize(("seed", "size", "count"), [(5, 40, 30), (6, 15, 12), (7, 120, 40)])
def test_many_new_organisations_within_an_hour_raise_one_alert(
        ledgers: list[NetworkLedger], seed: int, size: int, count: int) -> None:
    """A network that served `size` practices for two days suddenly serves `count`
    more within an hour: one alert, within that hour, naming the network and the
    counts; the other worker, folding the same traffic, raises none of its own."""
    rng = random.Random(seed)
    sink = MemoryAlertSink()
    watches = [NetworkWatch(HOSTED, ledger=ledger, alerts=sink) for ledger in ledgers]
    play(watches[0], honest_days(rng, [f"org{i}" for i in range(size)], range(3), 0.0), rng)
    at = START + 3 * DAY + 10 * HOUR
    for n, (ts, org) in enumerate(surge(at, count, rng)):
        watches[n % 2].note("192.0.2.9", org, ts)
    for watch in watches:
        watch.fold(at + 2 * HOUR)
    [alert] = sink.network_alerts
    assert alert.kind == NOVELTY
    assert alert.label == "hosted"
    assert at < alert.at.timestamp() <= at + HOUR
    assert alert.new >= 5
    assert alert.known >= size + alert.new
    assert "'hosted'" in alert.reasons[0]
    assert "never seen through it" in alert.reasons[0]
    assert "still counted per organisation" in alert.reasons[1]
    # A later surge is another alert (one per anomaly and hour), judged against the
    # network it has become.
    play(watches[0], surge(at + 3 * HOUR, 2 * count, rng, prefix="more"), rng)
    assert [a.kind for a in sink.network_alerts] == [NOVELTY, NOVELTY]


@pytest.mark.parametrize("seed", [8, 9])
def test_a_busy_network_is_judged_against_its_own_history(
        ledgers: list[NetworkLedger], seed: int) -> None:
    """A carrier NAT of 300 organisations where a few join every working day (most of
    them at opening time): an hour with 12 new ones is within its usual, 80 is not."""
    rng = random.Random(seed)
    sink = MemoryAlertSink()
    watch = NetworkWatch(HOSTED, ledger=ledgers[0], alerts=sink)
    play(watch, honest_days(rng, [f"org{i}" for i in range(300)], range(4), 5.0), rng)
    play(watch, surge(START + 4 * DAY + 9 * HOUR, 12, rng, prefix="a"), rng)
    assert sink.network_alerts == []
    play(watch, surge(START + 4 * DAY + 14 * HOUR, 80, rng, prefix="b"), rng)
    assert [a.kind for a in sink.network_alerts] == [NOVELTY]


def test_an_entry_serving_mostly_organisations_it_does_not_name(
        ledgers: list[NetworkLedger]) -> None:
    """A hospital group's entry naming its 10 organisations: a few checks of others
    beside theirs raise nothing; an hour where others make most of the checks raises
    the alert for the list (the others are counted network-wide already)."""
    rng = random.Random(10)
    sink = MemoryAlertSink()
    group = named(10)
    watch = NetworkWatch(group, ledger=ledgers[0], alerts=sink)
    play(watch, honest_days(rng, [f"org{i}" for i in range(10)], range(3), 0.0), rng)
    play(watch, surge(START + 3 * DAY + 8 * HOUR, 2, rng, prefix="visitor", checks=3), rng)
    assert sink.network_alerts == []
    play(watch, surge(START + 3 * DAY + 12 * HOUR, 4, rng, prefix="other", checks=80), rng)
    kinds = {a.kind: a for a in sink.network_alerts}
    assert set(kinds) == {FOREIGN}
    assert "entry does not name (10 named)" in kinds[FOREIGN].reasons[0]
    [view] = watch.views(START + 3 * DAY + 13 * HOUR)
    others = [s for s in view.organisations if not s.named]
    assert {s.organisation for s in others} >= {"other0", "other1", "other2", "other3"}


def test_a_network_alert_is_stored_audited_and_shaped_for_the_webhook(
        runtime: Runtime) -> None:
    clock = ManualClock(dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC))
    alert = NetworkAlert(label="hosted", kind=NOVELTY, at=clock.now(), new=30, known=70,
                         checks=400, reasons=("the listed shared network 'hosted' ...",))
    with AuditLog(engine=runtime.engine, clock=clock) as audit:
        StoredAlertSink(engine=runtime.engine, audit=audit).network_alert(alert)
    [stored] = AlertStore(engine=runtime.engine).open()
    assert stored.source is AlertSource.SHARED_NETWORK
    assert stored.network == "hosted"
    assert stored.account_id is stored.organisation_id is stored.session_id is None
    assert stored.severity == "medium"
    assert stored.reasons == alert.reasons
    finding = detection_finding(stored, product_version="test")
    assert finding["unmapped"] == {"network": "hosted"}
    assert finding["finding_info"]["title"].endswith(": hosted")
    assert finding["severity"] == "Medium"
    with runtime.engine.connect() as conn:
        [detail] = conn.execute(text("SELECT detail FROM audit_entries "
                                     "WHERE event = 'guard.shared_network'")).scalars()
    assert "hosted" not in str(detail)
    assert '"new":30' in str(detail).replace(" ", "")


def test_a_memory_mode_restart_keeps_what_the_network_learnt(runtime: Runtime) -> None:
    """The ledger rides the guard's snapshots: after a restart the network is not learning
    again (which would blind the watch for a day after each deployment), and a surge is
    alerted at once. A row that cannot be read is skipped: that network learns again."""
    clock = ManualClock(dt.datetime.fromtimestamp(START, dt.UTC))
    rng = random.Random(11)
    before = MemoryGuardState(clock)
    watch = NetworkWatch(HOSTED, ledger=before.network_ledger(), alerts=MemoryAlertSink())
    play(watch, honest_days(rng, [f"org{i}" for i in range(40)], range(3), 0.0), rng)
    watch.fold(START + 3 * DAY)
    snapshots = GuardSnapshots(engine=runtime.engine, state=before, clock=clock)
    assert snapshots.snapshot() >= 1
    assert snapshots.snapshot() == 0  # unchanged: not written again
    [learnt] = watch.views(START + 3 * DAY)

    after = MemoryGuardState(clock)
    GuardSnapshots(engine=runtime.engine, state=after, clock=clock).load()
    sink = MemoryAlertSink()
    restarted = NetworkWatch(HOSTED, ledger=after.network_ledger(), alerts=sink)
    [view] = restarted.views(START + 3 * DAY)
    assert not view.learning
    assert (view.since, view.known, view.organisations) == (
        learnt.since, learnt.known, learnt.organisations)
    play(restarted, surge(START + 3 * DAY + 9 * HOUR, 30, rng), rng)
    assert [a.kind for a in sink.network_alerts] == [NOVELTY]

    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE guard_state SET body = :b WHERE kind = 'network'"),
                     {"b": b"{not json"})
    again = MemoryGuardState(clock)
    with capture_logs() as logs:
        loaded = GuardSnapshots(engine=runtime.engine, state=again, clock=clock).load()
    assert loaded is not None
    assert loaded.unreadable == 1
    assert [e["key"] for e in logs if e["event"] == "guard.snapshot.unreadable"] == ["hosted"]
    fresh_watch = NetworkWatch(HOSTED, ledger=again.network_ledger(), alerts=MemoryAlertSink())
    assert fresh_watch.views(START + 3 * DAY)[0].learning
