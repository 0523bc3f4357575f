"""Measuring breach scoping over a large audit log. Prints figures; asserts nothing.

`fill_audit_log` writes a synthetic, correctly chained log quickly: hashes computed in a
tight loop, rows inserted in large batches (executemany on SQLite, COPY on PostgreSQL),
the secondary indexes dropped during the load and rebuilt after, as any bulk load does.
It bypasses the group-commit path on purpose: what is measured is the scope's query,
not the append. `measure_scopes` then times typical scopes: a few accounts over a week,
one session, many accounts over the whole log, an address range over a week, and the
same range over the whole log (a scan of every entry).
"""

from __future__ import annotations

import base64
import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text

from rempart.audit import AuditLog
from rempart.audit.hashing import chain_hash, leaf_hash
from rempart.audit.models import AuditEntry
from rempart.audit.records import entry_bytes, to_micros
from rempart.clock import Clock
from rempart.response.scope import Selector, Window
from rempart.response.scoping import BreachScoper
from rempart.storage.base import Base

COLUMNS = ("position", "event", "occurred_at_us", "account_id", "organisation_id",
           "session_id", "device_id", "client_address", "subject_id", "fields", "detail",
           "prev_hash", "entry_hash")
DISCLOSED = ["covered", "guarantee_kind", "guarantee_rate_bp", "third_party_payment"]
INSURERS = [f"{10_000_000 + n}" for n in range(40)]
BATCH = 20_000


@dataclass(frozen=True)
class Shape:
    """What the synthetic log looks like."""

    entries: int
    start: dt.datetime
    days: int = 30
    accounts: int = 20_000
    persons: int = 5_000_000
    negative_share: float = 0.3  # checks that disclosed nothing
    seed: int = 1

    def address(self, account: int) -> str:
        return f"100.{64 + (account >> 16) % 64}.{(account >> 8) & 255}.{account & 255}"

    def session(self, account: int, day: int) -> str:
        return f"s{account}-{day}"


def fill_audit_log(engine: Engine, shape: Shape,
                   on_progress: Callable[[int], None] | None = None) -> None:
    """Append `shape.entries` chained entries after the current head of an audit log."""
    rng = random.Random(shape.seed)
    references = [base64.b32encode(rng.randbytes(16)).decode().rstrip("=")
                  for _ in range(4096)]
    step_us = shape.days * 86_400_000_000 // max(1, shape.entries)
    start_us = to_micros(shape.start)
    table = Base.metadata.tables[AuditEntry.__tablename__]
    with engine.begin() as conn:
        head = conn.execute(text("SELECT position, entry_hash FROM audit_head")).one()
        position, prev = int(head[0]), bytes(head[1])
        for index in table.indexes:
            index.drop(conn)
    written = 0
    while written < shape.entries:
        rows = []
        for _ in range(min(BATCH, shape.entries - written)):
            position += 1
            at_us = start_us + written * step_us
            account = int(rng.random() * shape.accounts) + 1
            day = (at_us - start_us) // 86_400_000_000
            disclosed = rng.random() >= shape.negative_share
            subject = int(rng.random() * shape.persons) + 1 if disclosed else None
            fields = DISCLOSED if disclosed else []
            reference = references[position % len(references)]  # base32 is slow to draw
            detail = ({"amc": INSURERS[subject % len(INSURERS)], "reference": reference}
                      if subject else {"reference": reference})
            values = {"event": "check.answered", "occurred_at_us": at_us,
                      "account_id": account, "organisation_id": 1 + account // 3,
                      "session_id": shape.session(account, day), "device_id": f"d{account}",
                      "client_address": shape.address(account), "subject_id": subject}
            entry_hash = chain_hash(prev, leaf_hash(entry_bytes(
                position=position, fields=fields, detail=detail, **values)))
            rows.append((position, *values.values(), ",".join(fields),
                         _canonical(detail), prev, entry_hash))
            prev = entry_hash
            written += 1
        with engine.begin() as conn:
            _insert(conn, rows)
        if on_progress is not None:
            on_progress(len(rows))
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_head SET position = :p, entry_hash = :h"),
                     {"p": position, "h": prev})
        for index in table.indexes:
            index.create(conn)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE audit_entries")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def _canonical(detail: dict[str, Any]) -> str:
    # Sorted keys, no spaces: what AuditRecord stores (and verify recomputes).
    if "amc" in detail:
        return f'{{"amc":"{detail["amc"]}","reference":"{detail["reference"]}"}}'
    return f'{{"reference":"{detail["reference"]}"}}'


def _insert(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    if conn.dialect.name == "postgresql":
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cursor, cursor.copy(  # type: ignore[union-attr]
                f"COPY audit_entries ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in COLUMNS)
    conn.exec_driver_sql(f"INSERT INTO audit_entries ({', '.join(COLUMNS)}) "  # noqa: S608
                         f"VALUES ({marks})", rows)


def measure_scopes(engine: Engine, shape: Shape, clock: Clock) -> list[dict[str, Any]]:
    """Time typical scopes over the filled log; one dict of figures per scope."""
    week = Window(since=shape.start + dt.timedelta(days=10),
                  until=shape.start + dt.timedelta(days=17))
    everything = Window(since=shape.start, until=shape.start + dt.timedelta(days=shape.days))
    rng = random.Random(shape.seed + 1)
    accounts = tuple(rng.sample(range(1, shape.accounts + 1), min(53, shape.accounts)))
    cases = [
        ("3 accounts, 7 days", Selector(accounts=accounts[:3]), week),
        ("1 session", Selector(sessions=(shape.session(accounts[3], 12),)), everything),
        ("50 accounts, 30 days", Selector(accounts=accounts[3:]), everything),
        ("address /24, 7 days", Selector(addresses=("100.64.7.0/24",)), week),
        # Every entry of the log is read: the worst case of an address range.
        ("address /24, 30 days", Selector(addresses=("100.64.7.0/24",)), everything),
    ]
    figures = []
    with AuditLog(engine=engine, clock=clock) as audit:
        scoper = BreachScoper(engine=engine, clock=clock, audit=audit)
        for name, selector, window in cases:
            started = time.perf_counter()
            scope = scoper.compute(selector=selector, window=window,
                                   detected_at=window.since)
            figures.append({"scope": name, "seconds": round(time.perf_counter() - started, 3),
                            "persons": scope.counts.persons,
                            "disclosures": scope.counts.disclosures})
    return figures
