"""Retention: old entries move to an archive file with their checkpoints and still verify."""

from __future__ import annotations

import datetime as dt
import stat
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select

from audit_support import AuditBed, make_bed, tamper
from rempart.audit import Archiver, ArchiveRefused, AuditFileError, verify_archive
from rempart.audit.archive import SEAL_SUFFIX
from rempart.audit.models import AuditArchive, AuditEntry, AuditHead
from rempart.runtime import Runtime

HOUR = 3600.0


@pytest.fixture
def bed(runtime: Runtime) -> Iterator[AuditBed]:
    """30 entries an hour apart, checkpointed by tens, and 5 more not yet checkpointed."""
    bed = make_bed(runtime)
    bed.fill(30, step_s=HOUR)
    bed.checkpoint()
    bed.fill(5, step_s=HOUR)
    try:
        yield bed
    finally:
        bed.log.close()


@pytest.fixture
def archive_dir(tmp_path: Path) -> Path:
    return tmp_path / "archives"


def _archiver(bed: AuditBed) -> Archiver:
    return Archiver(engine=bed.engine, clock=bed.clock, signing_key=bed.key)


def _live(bed: AuditBed) -> tuple[int, int, int]:
    """(entries in the database, lowest position, archive boundary)."""
    with bed.engine.connect() as conn:
        count, lowest = conn.execute(select(func.count(), func.min(AuditEntry.position))).one()
        boundary = conn.execute(select(AuditHead.archived_through)).scalar_one()
    return int(count), int(lowest), int(boundary)


def test_old_checkpointed_ranges_move_to_a_file_that_verifies(bed: AuditBed,
                                                              archive_dir: Path) -> None:
    # Now: 35 hours after the first entry. Older than 14 h: entries 1..21, so two whole
    # checkpoint ranges (1..10, 11..20); 21 is old but its range (21..30) is not.
    seal = _archiver(bed).archive(older_than=dt.timedelta(hours=14), directory=archive_dir)
    assert seal is not None
    assert (seal.first, seal.last, seal.number) == (1, 20, 1)
    path = archive_dir / seal.file_name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _live(bed) == (15, 21, 20)
    archived = verify_archive(path, bed.trusted)
    assert archived.ok, archived.summary()
    assert (archived.entries_checked, archived.checkpoints_checked) == (20, 2)
    live = bed.verify()
    assert live.ok, live.summary()
    assert (live.first_position, live.entries_checked) == (21, 15)


def test_a_second_archive_resumes_from_the_first(bed: AuditBed, archive_dir: Path) -> None:
    archiver = _archiver(bed)
    archiver.archive(older_than=dt.timedelta(hours=14), directory=archive_dir)
    bed.checkpoint()  # 31..35
    bed.clock.advance(100 * HOUR)
    seal = archiver.archive(older_than=dt.timedelta(hours=1), directory=archive_dir)
    assert seal is not None
    assert (seal.first, seal.last, seal.number) == (21, 35, 2)
    assert verify_archive(archive_dir / seal.file_name, bed.trusted).ok
    kinds = [orjson.loads(line)["kind"] for line in (archive_dir / seal.file_name).read_bytes()
             .splitlines()]
    assert kinds[:2] == ["header", "anchor"]
    with bed.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(AuditArchive)).scalar_one() == 2
    assert bed.log.append(event="check.answered").position == 36
    report = bed.verify()
    assert report.ok, report.summary()
    assert report.first_position == 36


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # backend-agnostic
def test_nothing_young_or_unsigned_is_archived(bed: AuditBed, archive_dir: Path) -> None:
    assert _archiver(bed).archive(older_than=dt.timedelta(hours=40), directory=archive_dir) is None
    bed.clock.advance(1000 * HOUR)
    seal = _archiver(bed).archive(older_than=dt.timedelta(0), directory=archive_dir)
    assert seal is not None
    assert seal.last == 30  # 31..35 are old but not under any checkpoint yet
    assert _live(bed) == (5, 31, 30)


def test_a_tampered_range_is_not_archived_and_nothing_changes(bed: AuditBed,
                                                              archive_dir: Path) -> None:
    engine = tamper(bed, ("UPDATE audit_entries SET subject_id = 7 WHERE position = 5", {}))
    with pytest.raises(ArchiveRefused, match="first bad position 5"):
        Archiver(engine=engine, clock=bed.clock, signing_key=bed.key).archive(
            older_than=dt.timedelta(0), directory=archive_dir)
    assert not archive_dir.exists() or list(archive_dir.iterdir()) == []
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 35
        assert conn.execute(select(AuditHead.archived_through)).scalar_one() == 0


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # backend-agnostic
def test_a_negative_retention_is_refused(bed: AuditBed, archive_dir: Path) -> None:
    with pytest.raises(ArchiveRefused, match="negative"):
        _archiver(bed).archive(older_than=dt.timedelta(days=-1), directory=archive_dir)


@pytest.fixture
def archived(bed: AuditBed, archive_dir: Path) -> Path:
    seal = _archiver(bed).archive(older_than=dt.timedelta(hours=14), directory=archive_dir)
    assert seal is not None
    return archive_dir / seal.file_name


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_altered_archive_file_is_caught(bed: AuditBed, archived: Path) -> None:
    lines = archived.read_bytes().splitlines()
    doc = orjson.loads(lines[7])  # header, then entries 1.. : entry 7
    doc["entry"]["subject_id"] = 4242
    lines[7] = orjson.dumps(doc)
    archived.write_bytes(b"\n".join(lines) + b"\n")
    report = verify_archive(archived, bed.trusted)
    assert report.first_bad_position == 1  # the seal no longer matches the file
    assert any(p.position == 7 and "does not match its hash" in p.message
               for p in report.problems)
    assert any("SHA-256" in p.message for p in report.problems)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_archive_without_its_seal_or_key_does_not_verify(bed: AuditBed,
                                                            archived: Path) -> None:
    archived.with_name(archived.name + SEAL_SUFFIX).unlink()
    assert "seal" in verify_archive(archived, bed.trusted).problems[0].message


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_an_unreadable_archive_gives_a_clear_error(bed: AuditBed, archived: Path) -> None:
    archived.write_bytes(archived.read_bytes() + b"{broken\n")
    with pytest.raises(AuditFileError, match="line 24: not valid JSON"):
        verify_archive(archived, bed.trusted)
