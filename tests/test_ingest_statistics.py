"""After an import the planner has statistics for what it loaded (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from ingest_samples import member_rows, reference_files, write
from rempart.clock import ManualClock
from rempart.coverage.check_store import candidate_lookup
from rempart.ingest.formats import FileKind, FileMode
from rempart.ingest.service import Importer
from rempart.runtime import Runtime

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _stored_rows(conn: Connection, table: str) -> float:
    """How many rows the planner's statistics say `table` holds."""
    if conn.dialect.name == "sqlite":
        stats = [row[0] for row in conn.exec_driver_sql(
            "SELECT stat FROM sqlite_stat1 WHERE tbl = ?", (table,))]
        counts = {int(stat.split()[0]) for stat in stats}
        if len(counts) != 1:
            raise AssertionError(f"statistics of {table}: {stats}")
        return float(counts.pop())
    reltuples = conn.exec_driver_sql("SELECT reltuples FROM pg_class WHERE relname = %s",
                                     (table,)).scalar_one()
    return float(reltuples)


def _check_plan(conn: Connection) -> str:
    """The plan of a coverage check's look-up, as text (SQLite) or JSON (PostgreSQL)."""
    compiled = candidate_lookup(1).compile(dialect=conn.dialect)
    values: dict[str, Any] = {**compiled.params, "identity0": b"\x01" * 16,
                              "member0": b"\x02" * 16, "category": "pharmacy",
                              "care_date": dt.date(2026, 3, 1)}
    if conn.dialect.name == "sqlite":
        params = tuple(values[name] for name in compiled.positiontup or ())
        return "\n".join(row[3] for row in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {compiled}", params))
    return json.dumps(conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}",
                                           values).scalar_one())


def _beneficiary_scans(plan: Any) -> list[dict[str, Any]]:
    found = [plan] if plan.get("Relation Name") == "beneficiaries" else []
    for child in plan.get("Plans", []):
        found.extend(_beneficiary_scans(child))
    return found


def test_statistics_follow_files_that_write_a_good_share_of_a_table(runtime: Runtime,
                                                                   tmp_path: Path) -> None:
    importer = Importer(engine=runtime.engine, vault=runtime.vault, clock=ManualClock(NOW),
                        workers=0)
    directory = tmp_path / "in"
    reference_files(directory)
    write(directory / "members.csv", FileKind.MEMBERS, member_rows(400))
    importer.import_paths(paths=[directory])
    with runtime.engine.connect() as conn:
        assert _stored_rows(conn, "beneficiaries") == 400
        assert _stored_rows(conn, "contracts") == 200
    delta = write(tmp_path / "delta.csv", FileKind.MEMBERS, member_rows(600, start=400),
                  FileMode.DELTA)
    importer.import_paths(paths=[delta])
    # A file writing under a tenth of a table does not pay for an ANALYZE.
    small = write(tmp_path / "small.csv", FileKind.MEMBERS, member_rows(20, start=1000),
                  FileMode.DELTA)
    importer.import_paths(paths=[small])
    with runtime.engine.connect() as conn:
        assert _stored_rows(conn, "beneficiaries") == 1000
        assert _stored_rows(conn, "contracts") == 500
        plan = _check_plan(conn)
        if conn.dialect.name == "sqlite":
            assert "SEARCH beneficiaries USING INDEX ix_beneficiaries_identity_idx" in plan
            return
    (scan,) = _beneficiary_scans(json.loads(plan)[0]["Plan"])
    assert scan["Index Name"] == "ix_beneficiaries_identity_idx"
    # With statistics a blind-index value is known to match one row; without them
    # the planner assumes 0.5 % of the table.
    assert scan["Plan Rows"] == 1


def test_a_failed_statistics_refresh_leaves_the_committed_file_applied(
        runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    def locked(*_args: object) -> None:
        raise OperationalError("ANALYZE beneficiaries", {}, Exception("database is locked"))

    monkeypatch.setattr("rempart.ingest.service.refresh_statistics", locked)
    importer = Importer(engine=runtime.engine, vault=runtime.vault, clock=ManualClock(NOW),
                        workers=0)
    directory = tmp_path / "in"
    reference_files(directory)
    write(directory / "members.csv", FileKind.MEMBERS, member_rows(40))
    reports = importer.import_paths(paths=[directory])
    assert {report.status for report in reports} == {"applied"}
    with runtime.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM beneficiaries").scalar_one() == 40
    captured = capsys.readouterr()  # stdout or stderr, as logging is configured
    assert "import.statistics_not_refreshed" in captured.out + captured.err


def test_an_import_of_several_files_is_analysed_once_for_all_of_them(
        runtime: Runtime, tmp_path: Path) -> None:
    """The second file alone is under a tenth of the table; counted with the first (one
    ANALYZE after both) the statistics hold every row."""
    importer = Importer(engine=runtime.engine, vault=runtime.vault, clock=ManualClock(NOW),
                        workers=1, parallel_min_rows=0, chunk_bytes=4_000)
    directory = tmp_path / "in"
    reference_files(directory)
    write(directory / "members-1.csv", FileKind.MEMBERS, member_rows(400))
    write(directory / "members-2.csv", FileKind.MEMBERS, member_rows(30, start=400))
    importer.import_paths(paths=[directory])
    with runtime.engine.connect() as conn:
        assert _stored_rows(conn, "beneficiaries") == 430
        assert _stored_rows(conn, "contracts") == 215
