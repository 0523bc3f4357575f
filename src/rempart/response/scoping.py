"""Breach scoping: from the audit log alone, which persons had which fields disclosed
through some accounts, sessions or client address ranges within a window.

`BreachScoper` is the service behind `rempart breach scope` and the security console:
`compute` reads the audit entries (one snapshot, through the indexes on account and
time, session and time, and time alone for address ranges), groups them by person, and
returns a validated `Scope`; `export` writes it as JSON and CSV for the response team,
after appending the export itself to the audit log. The person's insurer is the one the
entry recorded (`amc` in its detail), or the population's for older entries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, bindparam, or_, select

from rempart.alerts.store import AlertStore
from rempart.audit import AuditLog
from rempart.audit.models import AuditEntry
from rempart.audit.recorder import insurers_of
from rempart.audit.records import from_micros, to_micros
from rempart.audit.security_sink import safe_detail
from rempart.audit.store import read_snapshot
from rempart.clock import Clock
from rempart.response.address_filter import AddressFilter
from rempart.response.errors import InvalidScope, OutputNotEmpty
from rempart.response.output import make_private_dir
from rempart.response.scope import Scope, ScopedPerson, Selector, Window
from rempart.response.scope_io import write_scope_files

JSON_NAME = "scope.json"
CSV_NAME = "scope.csv"
STREAM_BATCH = 10_000
_ENTRIES = AuditEntry.__table__
_SELECT = select(_ENTRIES.c.position, _ENTRIES.c.occurred_at_us, _ENTRIES.c.subject_id,
                 _ENTRIES.c.fields, _ENTRIES.c.detail, _ENTRIES.c.client_address).where(
    _ENTRIES.c.subject_id.is_not(None), _ENTRIES.c.fields != "",
    _ENTRIES.c.occurred_at_us >= bindparam("since"), _ENTRIES.c.occurred_at_us < bindparam("until"))
_BY_ACCOUNT = _SELECT.where(_ENTRIES.c.account_id.in_(bindparam("ids", expanding=True)))
_BY_SESSION = _SELECT.where(_ENTRIES.c.session_id.in_(bindparam("ids", expanding=True)))


@dataclass
class _Seen:
    """One person's disclosures while the entries stream by."""

    first_us: int
    last_us: int
    count: int = 0
    fields: set[str] = field(default_factory=set)
    amc: str | None = None


@dataclass(frozen=True)
class ScopeFiles:
    json: Path
    csv: Path


def scope_files(out: Path) -> ScopeFiles:
    """Where a scope goes in `out`; refused if either file is already there."""
    files = ScopeFiles(json=out / JSON_NAME, csv=out / CSV_NAME)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise OutputNotEmpty(f"output {out} exists and is not a directory")
    for path in (files.json, files.csv):
        if path.exists() or path.is_symlink():
            raise OutputNotEmpty(f"{path} already exists; not overwriting it")
    return files


class BreachScoper:
    def __init__(self, *, engine: Engine, clock: Clock, audit: AuditLog) -> None:
        self._engine = engine
        self._clock = clock
        self._audit = audit
        self._alerts = AlertStore(engine=engine)

    def detection_time(self, *, selector: Selector, window: Window) -> dt.datetime | None:
        """The first alert raised on the selected accounts or sessions within the window."""
        return self._alerts.first_alert_at(accounts=selector.accounts,
                                           sessions=selector.sessions, since=window.since)

    def compute(self, *, selector: Selector, window: Window,
                detected_at: dt.datetime | None = None,
                on_progress: Callable[[int], None] | None = None) -> Scope:
        """The scope of what went through the selector in the window.

        Without `detected_at`, the first alert on the selected accounts or sessions is
        taken as the moment the operator became aware (article 33's clock).
        """
        now = self._clock.now()
        detected = detected_at or self.detection_time(selector=selector, window=window)
        if detected is None:
            raise InvalidScope("detected_at", "no alert was raised on these accounts or "
                               "sessions in the window: give the detection time")
        if detected.tzinfo is None or detected > now:
            raise InvalidScope("detected_at", "must carry a UTC offset and not be later "
                               "than now")
        seen: dict[int, _Seen] = {}
        with read_snapshot(self._engine) as conn:
            for rows in self._selected(conn, selector, window):
                _accumulate(seen, rows)
                if on_progress is not None:
                    on_progress(len(rows))
            missing = [pid for pid, person in seen.items() if person.amc is None]
            if missing:
                known = insurers_of(conn, missing)
                for pid in missing:
                    seen[pid].amc = known.get(pid)
        unknown = sorted(pid for pid, person in seen.items() if person.amc is None)
        if unknown:
            raise InvalidScope(f"person id {unknown[0]}", f"no insurer is known for {len(unknown)} "
                               "person(s) of the scope (not recorded in the audit entries and "
                               "not in the population)")
        persons = tuple(ScopedPerson(
            person_id=pid, insurer_amc=str(p.amc), fields_disclosed=frozenset(p.fields),
            first_seen=from_micros(p.first_us), last_seen=from_micros(p.last_us),
            disclosures=p.count) for pid, p in seen.items())
        return Scope(selector=selector, window=window, detected_at=detected, computed_at=now,
                     persons=persons)

    def export(self, *, scope: Scope, out: Path, account_id: int | None = None) -> ScopeFiles:
        """Write <out>/scope.json and <out>/scope.csv (owner-only), the export audited first."""
        files = scope_files(out)
        counts = scope.counts
        selector = scope.selector
        self._audit.append(event="breach.scope_exported", account_id=account_id,
                           detail=safe_detail({
            "persons": counts.persons, "disclosures": counts.disclosures,
            "insurers": len(counts.by_insurer), "accounts": len(selector.accounts),
            "sessions": len(selector.sessions), "addresses": len(selector.addresses),
            # Dropped (the counts stay) if an id in it looks like a long number.
            "selector": selector.describe()[:200],
            "since": scope.window.since.isoformat(), "until": scope.window.until.isoformat()}))
        make_private_dir(out)
        try:
            write_scope_files(scope, json_path=files.json, csv_path=files.csv)
        except BaseException:
            for path in (files.json, files.csv):
                path.unlink(missing_ok=True)
            raise
        return files

    # -- reading ---------------------------------------------------------------------------

    def _selected(self, conn: Connection, selector: Selector,
                  window: Window) -> Iterator[list[Any]]:
        """Batches of (position, at, subject, fields, detail, address), each entry once."""
        bounds = {"since": to_micros(window.since), "until": to_micros(window.until)}
        positions: set[int] = set()
        queries: list[tuple[Any, dict[str, Any], AddressFilter | None]] = []
        if selector.accounts:
            queries.append((_BY_ACCOUNT, {"ids": list(selector.accounts), **bounds}, None))
        if selector.sessions:
            queries.append((_BY_SESSION, {"ids": list(selector.sessions), **bounds}, None))
        if selector.addresses:
            address_filter = AddressFilter.of(selector.addresses)
            likes = [_ENTRIES.c.client_address.like(pattern)
                     for pattern in address_filter.patterns()]
            queries.append((_SELECT.where(_ENTRIES.c.client_address.is_not(None), or_(*likes)),
                            bounds, address_filter))
        for statement, params, ranges in queries:
            result = conn.execute(statement.execution_options(yield_per=STREAM_BATCH), params)
            for partition in result.partitions():
                batch = [row for row in partition if row[0] not in positions
                         and (ranges is None or ranges.matches(row[5]))]
                positions.update(row[0] for row in batch)
                if batch:
                    yield batch


def _accumulate(seen: dict[int, _Seen], rows: list[Any]) -> None:
    split: dict[str, list[str]] = {}
    for _position, at_us, subject, fields, detail, _address in rows:
        names = split.get(fields)
        if names is None:
            names = split[fields] = fields.split(",")
        person = seen.get(subject)
        if person is None:
            person = seen[subject] = _Seen(first_us=at_us, last_us=at_us)
        elif at_us < person.first_us:
            person.first_us = at_us
        elif at_us > person.last_us:
            person.last_us = at_us
        person.count += 1
        person.fields.update(names)
        if person.amc is None:
            person.amc = _recorded_amc(detail)


def _recorded_amc(detail: str) -> str | None:
    if '"amc"' not in detail:
        return None
    try:
        value = orjson.loads(detail).get("amc")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) else None
