"""Importing members files: sealing, idempotence, deltas, terminations (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError

from ingest_samples import AMC, member_rows, person_row, reference_files, terminate_row, write
from rempart.clock import ManualClock
from rempart.ingest.errors import FileRejected
from rempart.ingest.formats import FileKind, FileMode
from rempart.ingest.service import Importer
from rempart.population import sealing
from rempart.population.models import Beneficiary, Contract, Insurer
from rempart.runtime import Runtime

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
TABLES = ("insurers", "guarantees", "contracts", "beneficiaries", "organisations",
          "professionals", "applied_files")


def snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in id order: 'nothing changed' means this is equal."""
    with engine.connect() as conn:
        return {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY id"))]  # noqa: S608
                for t in TABLES}


@pytest.fixture
def importer(runtime: Runtime) -> Importer:
    return Importer(engine=runtime.engine, vault=runtime.vault, clock=ManualClock(NOW),
                    chunk_bytes=700)  # a few rows per chunk: cross-chunk checks are exercised


@pytest.fixture
def loaded(importer: Importer, tmp_path: Path) -> Path:
    """Reference data and 20 persons (10 households) applied; returns the input directory."""
    directory = tmp_path / "in"
    reference_files(directory)
    write(directory / "members.csv", FileKind.MEMBERS, member_rows(20))
    importer.import_paths(paths=[directory])
    return directory


def test_a_full_file_is_sealed_and_findable_by_blind_index(runtime: Runtime,
                                                           loaded: Path) -> None:
    vault = runtime.vault
    row = person_row(7, household=3, rank=2)
    with runtime.engine.connect() as conn:
        assert conn.scalar(select(Beneficiary.id).limit(1).offset(19)) is not None
        assert conn.scalar(select(Beneficiary.id).limit(1).offset(20)) is None
        stored = conn.execute(select(Beneficiary).where(
            Beneficiary.member_idx == sealing.member_index(vault, AMC, row[7]))).one()
        contract = conn.execute(select(Contract).where(
            Contract.id == stored.contract_id)).one()
        holders = conn.scalar(select(text("count(*)")).select_from(Beneficiary).where(
            Beneficiary.contract_id == stored.contract_id))
    person = sealing.open_person(vault, stored.sealed, version=stored.key_version,
                                 member_idx=stored.member_idx)
    assert person.nir == row[9]
    assert person.birth_date == dt.date.fromisoformat(row[10])
    assert (person.last_name, person.first_name, person.member_number) == (row[12], row[13],
                                                                           row[7])
    assert stored.identity_idx == sealing.identity_index(vault, row[9], person.birth_date)
    assert stored.rank == 2
    assert holders == 2
    assert sealing.open_contract_number(vault, contract.sealed, version=contract.key_version,
                                        number_idx=contract.number_idx) == row[2]
    assert contract.tier == row[3]
    assert contract.start_date == dt.date(2021, 1, 1)
    assert contract.end_date is None


def test_reimporting_the_same_rows_changes_no_byte(importer: Importer, runtime: Runtime,
                                                   loaded: Path, tmp_path: Path) -> None:
    before = snapshot(runtime.engine)
    reports = importer.import_paths(paths=[loaded])
    assert {r.status for r in reports} == {"already applied"}
    assert snapshot(runtime.engine) == before
    # The same rows in a different file (not skipped by its fingerprint): still no change.
    again = write(tmp_path / "members-again.csv", FileKind.MEMBERS, member_rows(20),
                  FileMode.DELTA)
    (report,) = importer.import_paths(paths=[again])
    assert report.status == "applied"
    assert report.counts["members_unchanged"] == 20
    assert report.counts["members_inserted"] == report.counts["members_updated"] == 0
    after = snapshot(runtime.engine)
    assert {t: after[t] for t in TABLES if t != "applied_files"} == \
        {t: before[t] for t in TABLES if t != "applied_files"}


def test_a_delta_adds_changes_and_terminates(importer: Importer, runtime: Runtime,
                                             loaded: Path, tmp_path: Path) -> None:
    vault = runtime.vault
    changed = person_row(4, household=2, rank=1, last_name="RENAMED")
    delta = write(tmp_path / "delta.csv", FileKind.MEMBERS,
                  [changed, *member_rows(2, start=100), terminate_row(5, "2026-02-28")],
                  FileMode.DELTA)
    before = snapshot(runtime.engine)
    (report,) = importer.import_paths(paths=[delta])
    assert report.counts["members_inserted"] == 2
    assert report.counts["members_updated"] == 1
    assert report.counts["contracts_terminated"] == 1
    with runtime.engine.connect() as conn:
        stored = conn.execute(select(Beneficiary).where(
            Beneficiary.member_idx == sealing.member_index(vault, AMC, changed[7]))).one()
        ended = conn.scalar(select(Contract.end_date).where(
            Contract.number_idx == sealing.contract_index(vault, AMC, "C0000005")))
    person = sealing.open_person(vault, stored.sealed, version=stored.key_version,
                                 member_idx=stored.member_idx)
    assert person.last_name == "RENAMED4"
    assert ended == dt.date(2026, 2, 28)
    after = snapshot(runtime.engine)
    untouched = [r for r in before["beneficiaries"] if r[0] != stored.id]
    assert [r for r in after["beneficiaries"] if r[0] in {u[0] for u in untouched}] == untouched


def bad_delta(tmp_path: Path, rows: list[list[str]], mode: FileMode = FileMode.DELTA) -> Path:
    return write(tmp_path / "bad.csv", FileKind.MEMBERS, rows, mode)


def with_field(row: list[str], column: int, value: str) -> list[str]:
    changed = list(row)
    changed[column] = value
    return changed


BAD_ROWS = {
    "malformed NIR": (lambda: with_field(person_row(50), 9, "1234"), "nir"),
    "NIR with a wrong key": (lambda: with_field(person_row(50), 9,
                                                person_row(50)[9][:13] + "00"), "nir"),
    "NIR not matching the birth date": (
        lambda: with_field(person_row(50), 10, "1951-03-04"), "nir"),
    "impossible date": (lambda: with_field(person_row(50), 10, "2001-02-30"), "birth_date"),
    "birth in the future": (lambda: with_field(person_row(50), 10, "2030-01-01"), "birth_date"),
    "contract ending before it starts": (
        lambda: with_field(person_row(50), 5, "2020-01-01"), "contract_end"),
    "unknown insurer": (lambda: with_field(person_row(50), 1, "999999999"), "amc_number"),
    "tier unknown for the insurer": (lambda: with_field(person_row(50), 3, "GOLD"), "tier"),
    "unknown marital status": (lambda: with_field(person_row(50), 14, "complicated"),
                               "marital_status"),
    "bad postcode": (lambda: with_field(person_row(50), 15, "7501"), "postcode"),
    "bad département": (lambda: with_field(person_row(50), 16, "20"), "departement"),
    "rank out of range": (lambda: with_field(person_row(50), 8, "0"), "rank"),
    "third_party not a flag": (lambda: with_field(person_row(50), 6, "yes"), "third_party"),
    "unknown op": (lambda: with_field(person_row(50), 0, "delete"), "op"),
}


@pytest.mark.parametrize("backend", ["sqlite"])  # row checks do not depend on the backend
@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_a_bad_row_rejects_the_whole_file_naming_line_and_field(
        case: str, importer: Importer, runtime: Runtime, loaded: Path, tmp_path: Path) -> None:
    make, field = BAD_ROWS[case]
    bad = make()
    path = bad_delta(tmp_path, [*member_rows(3, start=200), bad, *member_rows(3, start=300)])
    before = snapshot(runtime.engine)
    with pytest.raises(FileRejected) as caught:
        importer.import_paths(paths=[path])
    message = str(caught.value)
    assert f"bad.csv:6: {field}:" in message  # header, columns, 3 rows, then the bad one
    for value in bad[2:]:
        if len(value) > 2:
            assert value not in message  # never the value itself
    assert snapshot(runtime.engine) == before


@pytest.mark.parametrize("backend", ["sqlite"])
def test_every_bad_row_is_reported_up_to_a_cap(importer: Importer, runtime: Runtime,
                                               loaded: Path, tmp_path: Path) -> None:
    rows = [with_field(r, 10, "1800-13-01") for r in member_rows(25, start=400)]
    before = snapshot(runtime.engine)
    with pytest.raises(FileRejected) as caught:
        importer.import_paths(paths=[bad_delta(tmp_path, rows)])
    assert caught.value.problems.total == 25
    assert "... and 5 more" in str(caught.value)
    assert snapshot(runtime.engine) == before


ACROSS_CHUNKS = ["same member twice, far apart", "stored member twice", "contract rows disagree",
                 "stored contract rows disagree", "terminate unknown contract",
                 "terminate in a full file", "terminate and change the same contract",
                 "terminate row with personal fields"]
# The cases that go through the database's own checks also run on PostgreSQL.
ON_POSTGRES = ["same member twice, far apart", "stored member twice",
               "stored contract rows disagree", "terminate and change the same contract"]


@pytest.mark.parametrize(("case", "backend"), [
    *[(case, "sqlite") for case in ACROSS_CHUNKS],
    *[pytest.param(case, "postgres", marks=pytest.mark.postgres) for case in ON_POSTGRES]])
def test_inconsistent_rows_across_batches_are_rejected(
        case: str, importer: Importer, runtime: Runtime, loaded: Path, tmp_path: Path) -> None:
    fresh = member_rows(16, start=500)  # 16 rows: several chunks of about 5 rows
    mode = FileMode.DELTA
    if case == "same member twice, far apart":
        rows = [*fresh, with_field(fresh[0], 2, "C9999999")]
    elif case == "stored member twice":
        rows = [person_row(3, household=1, rank=2), *fresh, person_row(3, household=1, rank=2)]
    elif case == "contract rows disagree":
        rows = [*fresh, with_field(person_row(600, household=250), 3, "CONFORT")]
    elif case == "stored contract rows disagree":
        rows = [person_row(0, household=0), *fresh,
                with_field(person_row(1, household=0, rank=2), 4, "2022-01-01")]
    elif case == "terminate unknown contract":
        rows = [*fresh, terminate_row(77777, "2026-01-31")]
    elif case == "terminate in a full file":
        rows, mode = [*fresh, terminate_row(1, "2026-01-31")], FileMode.FULL
    elif case == "terminate and change the same contract":
        rows = [person_row(2, household=1, last_name="X"), *fresh,
                terminate_row(1, "2026-01-31")]
    else:
        rows = [*fresh, with_field(terminate_row(1, "2026-01-31"), 12, "NAME")]
    before = snapshot(runtime.engine)
    with pytest.raises(FileRejected) as caught:
        importer.import_paths(paths=[bad_delta(tmp_path, rows, mode)])
    assert f"bad.csv:{len(rows) + 2}:" in str(caught.value)
    assert snapshot(runtime.engine) == before


def test_the_importer_refuses_a_keyring_that_cannot_open_stored_rows(
        runtime: Runtime, loaded: Path, tmp_path: Path) -> None:
    from rempart.ingest.errors import KeyringMismatch
    from rempart.vault import Keyring, Vault

    other = Importer(engine=runtime.engine, vault=Vault(Keyring.generate()),
                     clock=ManualClock(NOW))
    path = write(tmp_path / "more.csv", FileKind.MEMBERS, member_rows(2, start=900))
    before = snapshot(runtime.engine)
    with pytest.raises(KeyringMismatch):
        other.import_paths(paths=[path])
    assert snapshot(runtime.engine) == before


def test_insurers_map_to_their_own_rows(runtime: Runtime, loaded: Path) -> None:
    with runtime.engine.connect() as conn:
        insurer_id = conn.scalar(select(Insurer.id).where(Insurer.amc_number == AMC))
        owners = set(conn.scalars(select(Beneficiary.insurer_id)))
    assert owners == {insurer_id}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_worker_processes_give_the_same_result_and_the_same_line_numbers(
        runtime: Runtime, tmp_path: Path) -> None:
    parallel = Importer(engine=runtime.engine, vault=runtime.vault, clock=ManualClock(NOW),
                        workers=2, parallel_min_rows=0, chunk_bytes=700)
    parallel.import_paths(paths=reference_files(tmp_path / "ref"))
    rows = member_rows(30)
    bad = [*rows[:20], with_field(rows[20], 10, "2001-02-30"), *rows[21:]]
    with pytest.raises(FileRejected, match=r"bad\.csv:23: birth_date:"):
        parallel.import_paths(paths=[bad_delta(tmp_path, bad)])
    (report,) = parallel.import_paths(paths=[write(tmp_path / "m.csv", FileKind.MEMBERS, rows)])
    assert report.counts["members_inserted"] == 30
    assert report.counts["contracts_inserted"] == 15
    again = write(tmp_path / "m2.csv", FileKind.MEMBERS, rows, FileMode.DELTA)
    in_process = Importer(engine=runtime.engine, vault=runtime.vault, clock=ManualClock(NOW),
                          workers=0)
    (report,) = in_process.import_paths(paths=[again])
    assert report.counts["members_unchanged"] == 30


ORPHANS = """SELECT count(*) FROM beneficiaries b
    LEFT JOIN contracts c ON c.id = b.contract_id LEFT JOIN insurers i ON i.id = b.insurer_id
    LEFT JOIN insurers ci ON ci.id = c.insurer_id
    WHERE c.id IS NULL OR i.id IS NULL OR ci.id IS NULL"""


def test_references_hold_and_foreign_keys_are_enforced_again_after_members_files(
        importer: Importer, runtime: Runtime, loaded: Path, tmp_path: Path) -> None:
    # A person moves to another household, others join, a contract ends; then a file
    # naming an unknown insurer is refused with its line and stores nothing.
    moved = person_row(5, household=8, rank=3)
    delta = write(tmp_path / "delta.csv", FileKind.MEMBERS,
                  [moved, *member_rows(6, start=300), terminate_row(4, "2026-02-28")],
                  FileMode.DELTA)
    importer.import_paths(paths=[delta])
    before = snapshot(runtime.engine)
    bad = bad_delta(tmp_path, [*member_rows(4, start=400),
                               with_field(person_row(410), 1, "999999999")])
    with pytest.raises(FileRejected) as caught:
        importer.import_paths(paths=[bad])
    assert "bad.csv:7: amc_number: unknown insurer" in str(caught.value)
    assert snapshot(runtime.engine) == before
    with runtime.engine.connect() as conn:
        assert conn.scalar(text(ORPHANS)) == 0
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    # The database refuses a dangling reference again for everyone else.
    with pytest.raises(IntegrityError), runtime.engine.begin() as conn:
        conn.execute(text("UPDATE beneficiaries SET contract_id = 999999 WHERE id = 1"))
    # One foreign key says both: the contract exists and is the beneficiary's insurer's.
    with runtime.engine.connect() as conn:
        other = conn.scalar(text("SELECT max(id) FROM insurers WHERE id <> "
                                 "(SELECT insurer_id FROM beneficiaries WHERE id = 1)"))
    with pytest.raises(IntegrityError), runtime.engine.begin() as conn:
        conn.execute(text("UPDATE beneficiaries SET insurer_id = :other WHERE id = 1"),
                     {"other": other})
