"""Shared set-up for the audit tests: a log on the parametrised backend, a manual clock,
a signing key, and tampering done to a copy (SQLite) or to the test database (PostgreSQL)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from rempart.audit import (
    AuditLog,
    AuditReceipt,
    Checkpoint,
    Checkpointer,
    SigningKey,
    TrustedKeys,
    VerificationReport,
    Verifier,
)
from rempart.clock import ManualClock
from rempart.runtime import Runtime
from rempart.settings import Settings
from rempart.storage.engine import make_engine

START = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


@dataclass
class AuditBed:
    settings: Settings
    engine: Engine
    clock: ManualClock
    key: SigningKey
    log: AuditLog

    @property
    def trusted(self) -> TrustedKeys:
        return TrustedKeys([self.key.verify_key])

    def fill(self, count: int, *, step_s: float = 60) -> list[AuditReceipt]:
        """Append `count` varied entries, a minute apart, in one transaction."""
        first = self.next_position()
        records = []
        for n in range(first, first + count):
            records.append(self.log.record(
                event="check.answered" if n % 3 else "claim.read",
                account_id=1 + n % 4, organisation_id=10 + n % 2,
                session_id=f"s-{n % 5}", device_id=None if n % 2 else f"d-{n}",
                client_address="192.0.2.7" if n % 2 else "2001:db8::5",
                subject_id=100 + n, fields=["coverage", "guarantee"][: 1 + n % 2],
                detail={"outcome": "covered" if n % 4 else "not_covered", "n": n}))
            self.clock.advance(step_s)
        return self.log.append_records(records)

    def next_position(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text("SELECT position FROM audit_head")).scalar_one()) + 1

    def checkpoint(self, *, max_entries: int = 10) -> list[Checkpoint]:
        return Checkpointer(engine=self.engine, clock=self.clock, signing_key=self.key,
                            max_entries=max_entries).checkpoint()

    def verify(self, engine: Engine | None = None,
               exported: Sequence[Checkpoint] | None = None) -> VerificationReport:
        return Verifier(engine=engine or self.engine, trusted_keys=self.trusted).verify(
            exported=exported)

    def row(self, position: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            found = conn.execute(text("SELECT * FROM audit_entries WHERE position = :p"),
                                 {"p": position}).mappings().one()
        return dict(found)


def make_bed(runtime: Runtime, *, start: dt.datetime = START) -> AuditBed:
    clock = ManualClock(start)
    return AuditBed(settings=runtime.settings, engine=runtime.engine, clock=clock,
                    key=SigningKey.generate(), log=AuditLog(engine=runtime.engine, clock=clock))


def copy_of(bed: AuditBed) -> tuple[Settings, Engine]:
    """SQLite: a consistent copy of the database file (the backup API copes with WAL)."""
    source_path = Path(bed.settings.database_url.removeprefix("sqlite:///"))
    copy_path = source_path.with_name("tampered-copy.db")
    copy_path.unlink(missing_ok=True)
    with sqlite3.connect(source_path) as source, sqlite3.connect(copy_path) as copy:
        source.backup(copy)
    settings = dataclasses.replace(bed.settings, database_url=f"sqlite:///{copy_path}")
    return settings, make_engine(settings)


def tamper(bed: AuditBed, *statements: tuple[str, dict[str, Any]]) -> Engine:
    """Run SQL as an attacker with database access would, and return the engine to verify.

    On SQLite the statements go to a copy and the original is left intact; on PostgreSQL
    they change the test database itself."""
    engine = copy_of(bed)[1] if bed.engine.dialect.name == "sqlite" else bed.engine
    with engine.begin() as conn:
        for sql, params in statements:
            conn.execute(text(sql), params)
    return engine
