"""The listed networks' ledger in Redis (rempart.guard.netwatch), shared by every worker.

Per network (its label), under the guard's key prefix:

- `sn:<label>:since`: when a worker first folded a check of it (SET NX), the start of
  its learning day;
- `sn:<label>:seen`: a hash, organisation -> when first seen through it (HSETNX: the
  worker whose fold set it is the one that counts it new, so no organisation is new
  twice, whichever workers see it);
- `sn:<label>:h:<hour>`: a hash per clock hour, organisation -> checks (HINCRBY: the
  reply equal to the amount added says this fold saw it first this hour), kept
  RECENT_H hours and an hour;
- `sn:<label>:sum`: a hash of the hours' checks, others' checks and new organisations
  (fields `<hour>:c`, `<hour>:o`, `<hour>:n`), fields older than HISTORY_H removed;
- `sn:<label>:alert:<kind>:<hour>`: set by the first worker that saw the anomaly in
  that clock hour (the check clock's: Redis's own expiry, in wall time, only collects
  it); it raises the alert unless the hour before holds one too (the same anomaly).

A fold is one round trip (the worker's minute of counts, and the summary read), its
summary increments queued for the next trip of the same lane. Organisations are
internal ids; no address, no person.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rempart.guard.netwatch import (
    HISTORY_H,
    HOUR_S,
    RECENT_H,
    Hour,
    Summary,
    fold_hour,
    is_new,
)
from rempart.guard.redis_trips import Command, Trips
from rempart.guard.shared import SharedNetwork

SEEN_TTL = str(180 * 86400)
RECENT_TTL = str((RECENT_H + 1) * HOUR_S)
SUM_TTL = str((HISTORY_H + 1) * HOUR_S)
ALERT_TTL = str(2 * HOUR_S)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisNetworkLedger:
    def __init__(self, trips: Trips, *, prefix: str) -> None:
        self._trips = trips
        self._prefix = prefix

    def _key(self, label: str, *parts: str) -> str:
        return ":".join((self._prefix, "sn", label, *parts))

    def fold(self, entry: SharedNetwork, counts: Mapping[str, int], ts: float) -> Summary:
        label, named = entry.label, entry.organisations
        now_h = int(ts // HOUR_S)
        since, seen, total = (self._key(label, k) for k in ("since", "seen", "sum"))
        hour_key = self._key(label, "h", str(now_h))
        stamp = str(int(ts))
        orgs = list(counts)
        commands: list[Command] = [("SET", since, stamp, "NX", "EX", SEEN_TTL),
                                   ("GET", since)]
        for org in orgs:
            commands += [("HINCRBY", hour_key, org, str(counts[org])),
                         ("HSETNX", seen, org, stamp)]
        commands += [("EXPIRE", hour_key, RECENT_TTL), ("EXPIRE", seen, SEEN_TTL),
                     ("EXPIRE", since, SEEN_TTL), ("HLEN", seen), ("HGETALL", total)]
        replies = self._trips.run("watching a shared network", commands)
        new = 0
        for i, org in enumerate(orgs):
            in_hour, added = replies[2 + 2 * i], replies[3 + 2 * i]
            new += is_new(org, named, unseen=int(added) == 1,
                          first_this_hour=int(in_hour) == counts[org])
        hours = _hours(replies[-1])
        this = hours.setdefault(now_h, Hour())
        before = (this.checks, this.others, this.new)
        fold_hour(this, counts, named, new)
        later: list[Command] = [
            ("HINCRBY", total, f"{now_h}:{field}", str(after - was))
            for field, after, was in zip("con", (this.checks, this.others, this.new), before,
                                         strict=True) if after != was]
        stale = [f"{h}:{f}" for h in hours if h < now_h - HISTORY_H for f in "con"]
        if stale:
            later.append(("HDEL", total, *stale))
        later.append(("EXPIRE", total, SUM_TTL))
        self._trips.later(*later)
        return Summary(since=float(_text(replies[1])), known=int(replies[-2]),
                       hours={h: v for h, v in hours.items() if h >= now_h - HISTORY_H})

    def claim_alert(self, label: str, kind: str, ts: float) -> bool:
        hour = int(ts // HOUR_S)
        before, first = self._trips.run("watching a shared network", [
            ("EXISTS", self._key(label, "alert", kind, str(hour - 1))),
            ("SET", self._key(label, "alert", kind, str(hour)), "1", "NX", "EX", ALERT_TTL)])
        return first is not None and not int(before)

    def summary(self, label: str) -> Summary | None:
        since, known, total = self._trips.run("reading a shared network", [
            ("GET", self._key(label, "since")), ("HLEN", self._key(label, "seen")),
            ("HGETALL", self._key(label, "sum"))])
        if since is None:
            return None
        return Summary(since=float(_text(since)), known=int(known), hours=_hours(total))

    def recent(self, label: str, ts: float) -> list[tuple[str, int, float]]:
        now_h = int(ts // HOUR_S)
        replies = self._trips.run("reading a shared network", [
            ("HGETALL", self._key(label, "seen")),
            *(("HGETALL", self._key(label, "h", str(h)))
              for h in range(now_h - RECENT_H + 1, now_h + 1))])
        first = {org: float(when) for org, when in _pairs(replies[0])}
        totals: dict[str, int] = {}
        for reply in replies[1:]:
            for org, n in _pairs(reply):
                totals[org] = totals.get(org, 0) + int(n)
        return [(org, n, first.get(org, ts)) for org, n in totals.items()]


def _pairs(reply: Sequence[Any] | None) -> list[tuple[str, str]]:
    """An HGETALL's flat reply as (field, value) pairs of text."""
    flat = [_text(x) for x in (reply or [])]
    return list(zip(flat[0::2], flat[1::2], strict=True))


def _hours(reply: Sequence[Any] | None) -> dict[int, Hour]:
    hours: dict[int, Hour] = {}
    for name, value in _pairs(reply):
        hour, _, field = name.partition(":")
        row = hours.setdefault(int(hour), Hour())
        if field == "c":
            row.checks = int(value)
        elif field == "o":
            row.others = int(value)
        elif field == "n":
            row.new = int(value)
    return hours
