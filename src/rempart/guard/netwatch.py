"""Watching the operator's listed shared networks: which organisations check through them.

Listing a network (rempart.guard.shared) weakens the network-wide defences for it: its
checks are counted per organisation, not per address block. An attacker holding many
hijacked accounts of organisations that do not work there, reading through the listed
network, is then split into one small scope per organisation. What gives it away is
that the network suddenly serves organisations it never served: this module counts,
per listed network, the organisations seen checking through it, and raises an alert
(rempart.guard.alerts.NetworkAlert) for a human when

- *novelty*: within the last hour, the organisations new to the network (never seen
  through it before; for an entry that names its organisations, each organisation it
  does not name, once an hour) are many more than its own history of new organisations
  per hour says (Poisson tail against twice the larger of: the history's mean per hour
  with checks, half an organisation, and 2 % of the organisations it has served: new
  practices arrive in the morning, a large network's churn with them);
- *foreign*: an entry that names its organisations sees most of its checks of the hour
  from others.

It never changes a decision: scoping goes on while an anomaly lasts (docs/guard.md,
"Watching the listed networks", says why). On the check path the cost is a dict
increment (`note`); once a minute of the check clock, one check folds the minute's
counts into the ledger (in process, or in Redis with one round trip: shared by every
worker) and judges the networks it saw.

Cold start: a network is *learning* for LEARN_S after the first check the ledger saw
through it; it is not judged meanwhile, and the hours it learnt in are not its history
(the first day's organisations are all new).
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from rempart.guard.alerts import AlertSink, NetworkAlert
from rempart.guard.shared import SharedNetwork, SharedNetworks
from rempart.guard.stats import poisson_tail_bits

FOLD_S = 60.0
HOUR_S = 3600
LEARN_S = 86400.0
# Hours of history kept per network (its new organisations, checks, others' checks).
HISTORY_H = 7 * 24
# Hours of per-organisation counts kept (the console's "seen recently").
RECENT_H = 24
# Novelty: at least this many new organisations in the hour, and at least ALERT_BITS of
# surprise against MARGIN x the largest of: the history's mean per hour with checks,
# FLOOR_PER_H, and FLOOR_SHARE of the organisations served so far.
MIN_NEW = 5
FLOOR_PER_H = 0.5
FLOOR_SHARE = 0.02
MARGIN = 2.0
ALERT_BITS = 16.0
# Foreign: an entry naming its organisations, at least this many checks in the hour, and
# more than this share of them from organisations it does not name.
FOREIGN_MIN_CHECKS = 30
FOREIGN_SHARE = 0.5
NOVELTY = "novelty"
FOREIGN = "foreign"


@dataclass(slots=True)
class Hour:
    """One clock hour of a network: checks, checks by organisations its entry does not
    name, organisations new to it."""

    checks: int = 0
    others: int = 0
    new: int = 0


@dataclass(slots=True)
class Summary:
    """What the ledger holds about a network, for judging it: when it was first seen,
    how many organisations it has seen, its hours (clock hour number -> Hour)."""

    since: float
    known: int
    hours: dict[int, Hour] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Seen:
    """One organisation seen through a network in the last RECENT_H hours (console)."""

    organisation: str
    checks: int
    named: bool
    first_seen: float

    @property
    def first_seen_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.first_seen, dt.UTC)


@dataclass(frozen=True, slots=True)
class NetworkView:
    """A listed network as the console shows it: no personal data, internal ids only."""

    entry: SharedNetwork
    learning: bool
    since: float | None
    known: int
    hour: Hour
    organisations: tuple[Seen, ...]

    @property
    def since_at(self) -> dt.datetime | None:
        return None if self.since is None else dt.datetime.fromtimestamp(self.since, dt.UTC)


class NetworkLedger(Protocol):
    """Where the organisations seen through each network are kept (in process, or in
    Redis for every worker)."""

    def fold(self, entry: SharedNetwork, counts: Mapping[str, int], ts: float) -> Summary:
        """Add a minute's checks per organisation; the network's summary after them."""
        ...

    def claim_alert(self, label: str, kind: str, ts: float) -> bool:
        """Whether to raise this (network, kind) anomaly, seen at `ts`: True for the first
        caller in a clock hour that did not follow an hour where it was seen too (one
        alert per anomaly, however long it lasts, whichever worker sees it first)."""
        ...

    def summary(self, label: str) -> Summary | None: ...

    def recent(self, label: str, ts: float) -> list[tuple[str, int, float]]:
        """(organisation, checks over the last RECENT_H hours, first seen) per
        organisation seen in them."""
        ...


def fold_hour(hour: Hour, counts: Mapping[str, int], named: frozenset[str],
              new: int) -> None:
    """One fold's counts added to its clock hour (both ledgers)."""
    for org, n in counts.items():
        hour.checks += n
        if named and org not in named:
            hour.others += n
    hour.new += new


def is_new(org: str, named: frozenset[str], *, unseen: bool, first_this_hour: bool) -> bool:
    """New to the network: never seen through it (and not named by its entry), or, for
    an entry naming its organisations, one it does not name, once per hour."""
    if named:
        return org not in named and (unseen or first_this_hour)
    return unseen


def judge(entry: SharedNetwork, summary: Summary, ts: float) -> list[NetworkAlert]:
    """The anomalies of a network at `ts`, as alerts (empty while it is learning)."""
    if ts - summary.since < LEARN_S:
        return []
    now_h = int(ts // HOUR_S)
    # The last hour, from two clock hours (the sliding-window counters' arithmetic).
    weight = 1.0 - (ts - now_h * HOUR_S) / HOUR_S
    current, previous = summary.hours.get(now_h, Hour()), summary.hours.get(now_h - 1, Hour())
    new = current.new + previous.new * weight
    checks = current.checks + previous.checks * weight
    others = current.others + previous.others * weight
    when = dt.datetime.fromtimestamp(ts, dt.UTC)
    alerts = []
    # History: the hours after learning, before the window's two.
    first_h = max(math.ceil((summary.since + LEARN_S) / HOUR_S), now_h - HISTORY_H)
    history = [summary.hours[h] for h in range(first_h, now_h - 1)
               if h in summary.hours and summary.hours[h].checks]
    span = len(history)
    past = sum(h.new for h in history)
    # The organisations served before the window's new ones (which are known already).
    usual = max(past / span if span else 0.0, FLOOR_PER_H,
                FLOOR_SHARE * max(0.0, summary.known - new))
    bits = poisson_tail_bits(new, usual * MARGIN)
    if new >= MIN_NEW and bits >= ALERT_BITS:
        whose = ("organisations it does not name" if entry.organisations
                 else "organisations never seen through it before")
        alerts.append(NetworkAlert(
            label=entry.label, kind=NOVELTY, at=when, new=round(new), known=summary.known,
            checks=round(checks), reasons=(
                f"the listed shared network {entry.label!r} served {new:.0f} {whose} in "
                f"the last hour, where {usual:.1f} an hour is its usual ({span} hours "
                f"with checks since it was learnt, {bits:.0f} bits; it has served "
                f"{summary.known} organisations in all)",
                "its checks are still counted per organisation: if these organisations "
                "should not work from it (hijacked accounts read through it), remove the "
                "entry or name its organisations, and look at their accounts' alerts")))
    if entry.organisations and checks >= FOREIGN_MIN_CHECKS and others > FOREIGN_SHARE * checks:
        alerts.append(NetworkAlert(
            label=entry.label, kind=FOREIGN, at=when, new=round(new), known=summary.known,
            checks=round(checks), reasons=(
                f"{others / checks:.0%} of the {checks:.0f} checks of the last hour through "
                f"the listed shared network {entry.label!r} came from organisations its "
                f"entry does not name ({len(entry.organisations)} named)",
                "those are counted network-wide already: the entry's list of "
                "organisations is out of date, or others use the network")))
    return alerts


class NetworkWatch:
    """Counts, per listed network, the checks of each organisation; folds them into the
    ledger once a minute and raises the anomalies found."""

    def __init__(self, shared: SharedNetworks, *, ledger: NetworkLedger,
                 alerts: AlertSink) -> None:
        self._shared = shared
        self._ledger = ledger
        self._alerts = alerts
        self._by_label = {e.label: e for e in shared.entries}
        self._tally: dict[tuple[str, str], int] = {}
        self._next_fold = 0.0
        self._lock = threading.Lock()

    @classmethod
    def of(cls, shared: SharedNetworks, *, state: object,
           alerts: AlertSink) -> NetworkWatch | None:
        """The watch of a guard on `state` (its `network_ledger()`, else one in process);
        None without a list: a check then pays one attribute test for it."""
        if not shared:
            return None
        ledger: NetworkLedger | None = getattr(state, "network_ledger", lambda: None)()
        return cls(shared, ledger=ledger or MemoryNetworkLedger(), alerts=alerts)

    def note(self, address: str, organisation: object, ts: float) -> None:
        """A check from `address` by `organisation` at `ts` (the check path)."""
        entry = self._shared.entry(address)
        if entry is None:
            return
        key = (entry.label, str(organisation))
        # Without a lock: on Redis, threads of other lanes note at once; an increment
        # racing a fold's swap of the dict may be lost (a count, not a decision).
        tally = self._tally
        tally[key] = tally.get(key, 0) + 1
        if ts >= self._next_fold:
            self.fold(ts)

    def fold(self, ts: float) -> list[NetworkAlert]:
        """Fold the counts so far into the ledger and judge the networks they touched;
        the alerts raised. Another thread folding meanwhile: nothing (it does it)."""
        if not self._lock.acquire(blocking=False):
            return []
        try:
            self._next_fold = (math.floor(ts / FOLD_S) + 1) * FOLD_S
            tally, self._tally = self._tally, {}
            per_label: dict[str, dict[str, int]] = {}
            for (label, org), n in tally.items():
                per_label.setdefault(label, {})[org] = n
            raised = []
            for label, counts in per_label.items():
                entry = self._by_label[label]
                try:
                    summary = self._ledger.fold(entry, counts, ts)
                except BaseException:
                    self._put_back(label, counts)  # counted at the next fold instead
                    raise
                for alert in judge(entry, summary, ts):
                    if self._ledger.claim_alert(label, alert.kind, ts):
                        self._alerts.network_alert(alert)
                        raised.append(alert)
            return raised
        finally:
            self._lock.release()

    def _put_back(self, label: str, counts: Mapping[str, int]) -> None:
        tally = self._tally
        for org, n in counts.items():
            tally[(label, org)] = tally.get((label, org), 0) + n

    def views(self, ts: float) -> list[NetworkView]:
        """Every listed network as the ledger has it (counts up to the last fold)."""
        out = []
        with self._lock:
            for entry in self._shared.entries:
                summary = self._ledger.summary(entry.label)
                seen = sorted(
                    (Seen(org, n, org in entry.organisations, first)
                     for org, n, first in self._ledger.recent(entry.label, ts)),
                    key=lambda s: (-s.checks, s.organisation))
                hour = Hour()
                if summary is not None:
                    hour = summary.hours.get(int(ts // HOUR_S), Hour())
                out.append(NetworkView(
                    entry=entry, since=summary.since if summary else None,
                    learning=summary is None or ts - summary.since < LEARN_S,
                    known=summary.known if summary else 0, hour=hour,
                    organisations=tuple(seen)))
        return out


class MemoryNetworkLedger:
    """The ledger of one process (memory mode)."""

    def __init__(self) -> None:
        self._since: dict[str, float] = {}
        self._seen: dict[str, dict[str, float]] = {}
        self._hours: dict[str, dict[int, Hour]] = {}
        # Per network, clock hour -> organisation -> checks (the last RECENT_H hours).
        self._recent: dict[str, dict[int, dict[str, int]]] = {}
        self._alerted: set[tuple[str, str, int]] = set()

    def fold(self, entry: SharedNetwork, counts: Mapping[str, int], ts: float) -> Summary:
        label, named = entry.label, entry.organisations
        since = self._since.setdefault(label, ts)
        seen = self._seen.setdefault(label, {})
        now_h = int(ts // HOUR_S)
        recent = self._recent.setdefault(label, {})
        this_hour = recent.setdefault(now_h, {})
        new = 0
        for org, n in counts.items():
            unseen = org not in seen
            if unseen:
                seen[org] = ts
            new += is_new(org, named, unseen=unseen, first_this_hour=org not in this_hour)
            this_hour[org] = this_hour.get(org, 0) + n
        hours = self._hours.setdefault(label, {})
        fold_hour(hours.setdefault(now_h, Hour()), counts, named, new)
        for old in [h for h in hours if h < now_h - HISTORY_H]:
            del hours[old]
        for old in [h for h in recent if h <= now_h - RECENT_H]:
            del recent[old]
        return Summary(since=since, known=len(seen), hours=hours)

    def claim_alert(self, label: str, kind: str, ts: float) -> bool:
        key = (label, kind, int(ts // HOUR_S))
        if key in self._alerted:
            return False
        self._alerted = {k for k in self._alerted if k[2] >= key[2] - 1}
        self._alerted.add(key)
        return (label, kind, key[2] - 1) not in self._alerted

    def summary(self, label: str) -> Summary | None:
        since = self._since.get(label)
        if since is None:
            return None
        return Summary(since=since, known=len(self._seen.get(label, {})),
                       hours=dict(self._hours.get(label, {})))

    # -- kept across a restart (memory mode: rempart.guard.persist_networks) -----------

    def labels(self) -> list[str]:
        return list(self._since)

    def dump(self, label: str) -> bytes:
        """One network's ledger as JSON (organisation ids and counts only)."""
        return orjson.dumps({
            "since": self._since[label], "seen": self._seen.get(label, {}),
            "hours": {str(h): [v.checks, v.others, v.new]
                      for h, v in self._hours.get(label, {}).items()},
            "recent": {str(h): orgs for h, orgs in self._recent.get(label, {}).items()}})

    def restore(self, label: str, body: bytes) -> None:
        """dump's JSON back (ValueError, KeyError or TypeError if it is not)."""
        data: dict[str, Any] = orjson.loads(body)
        since = float(data["since"])
        seen = {str(o): float(t) for o, t in data["seen"].items()}
        hours = {int(h): Hour(int(c), int(o), int(n)) for h, (c, o, n) in data["hours"].items()}
        recent = {int(h): {str(o): int(n) for o, n in orgs.items()}
                  for h, orgs in data["recent"].items()}
        self._since[label], self._seen[label] = since, seen
        self._hours[label], self._recent[label] = hours, recent

    def recent(self, label: str, ts: float) -> list[tuple[str, int, float]]:
        now_h = int(ts // HOUR_S)
        totals: dict[str, int] = {}
        for hour, orgs in self._recent.get(label, {}).items():
            if hour > now_h - RECENT_H:
                for org, n in orgs.items():
                    totals[org] = totals.get(org, 0) + n
        seen = self._seen.get(label, {})
        return [(org, n, seen.get(org, ts)) for org, n in totals.items()]
