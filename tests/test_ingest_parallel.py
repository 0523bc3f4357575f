"""The members import's fast paths: worker processes, optimistic inserts, quick checks.

Each is checked against the plain path it stands in for, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ingest_samples import AMC_2, member_rows, person_row, reference_files, write
from rempart.clock import ManualClock
from rempart.ingest.errors import FileRejected, Problems
from rempart.ingest.formats import FileKind, FileMode
from rempart.ingest.framing import read_head
from rempart.ingest.pipeline import ChunkFeed, PreparerConfig
from rempart.ingest.service import Importer
from rempart.population import sealing
from rempart.runtime import Runtime
from rempart.storage.engine import CACHE_KIB, MMAP_BYTES
from rempart.synth import generate_population
from settings_support import sqlite_settings
from test_ingest_members import snapshot

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def importer(runtime: Runtime, workers: int) -> Importer:
    # Chunks of a few dozen rows, every file through the pool when there are workers.
    return Importer(engine=runtime.engine, vault=runtime.vault, clock=ManualClock(NOW),
                    workers=workers, parallel_min_rows=0, chunk_bytes=4_000)


def population_content(runtime: Runtime) -> dict[str, list[tuple[object, ...]]]:
    """Contracts and beneficiaries, every column, ciphertexts replaced by what they open to
    (a seal's nonce is random: the same input never gives the same bytes twice)."""
    vault = runtime.vault
    engine: Engine = runtime.engine
    with engine.connect() as conn:
        contracts = [
            (*r[:4], sealing.open_contract_number(vault, r.sealed, version=r.key_version,
                                                  number_idx=r.number_idx), *r[5:])
            for r in conn.execute(text("SELECT * FROM contracts ORDER BY id"))]
        people = [
            (*r[:7], sealing.open_person(vault, r.sealed, version=r.key_version,
                                         member_idx=r.member_idx), *r[8:])
            for r in conn.execute(text("SELECT * FROM beneficiaries ORDER BY id"))]
    return {"contracts": contracts, "beneficiaries": people}


def forget_members(runtime: Runtime) -> None:
    with runtime.engine.begin() as conn:
        conn.execute(text("DELETE FROM beneficiaries"))
        conn.execute(text("DELETE FROM contracts"))
        conn.execute(text("DELETE FROM applied_files WHERE kind = 'members'"))


def test_workers_and_one_process_store_the_same_population(runtime: Runtime,
                                                           tmp_path: Path) -> None:
    population = tmp_path / "population"
    generate_population(out=population, people=1_500, seed=5, today=NOW.date())
    importer(runtime, workers=0).import_paths(paths=[population])
    serial = population_content(runtime)
    assert len(serial["beneficiaries"]) == 1_500
    forget_members(runtime)
    reports = importer(runtime, workers=2).import_paths(paths=[population])
    assert {r.status for r in reports if r.kind is FileKind.MEMBERS} == {"applied"}
    assert population_content(runtime) == serial


def test_a_bad_row_in_a_worker_chunk_rejects_the_whole_file(runtime: Runtime,
                                                            tmp_path: Path) -> None:
    parallel = importer(runtime, workers=2)
    parallel.import_paths(paths=reference_files(tmp_path / "ref"))
    rows = member_rows(200)
    rows[170][9] = rows[170][9][:13] + "00"  # a wrong NIR key, in a late chunk
    before = snapshot(runtime.engine)
    with pytest.raises(FileRejected, match=r"bad\.csv:173: nir:") as caught:
        parallel.import_paths(paths=[write(tmp_path / "bad.csv", FileKind.MEMBERS, rows)])
    assert rows[170][9] not in str(caught.value)
    assert snapshot(runtime.engine) == before


@pytest.mark.parametrize("workers", [0, 1])
def test_a_member_twice_in_a_first_load_is_named_and_nothing_is_stored(
        runtime: Runtime, tmp_path: Path, workers: int) -> None:
    """No stored member for the insurer: rows are inserted without a look-up, and the
    unique natural key is what catches the second row, chunks away from the first."""
    load = importer(runtime, workers)
    load.import_paths(paths=reference_files(tmp_path / "ref"))
    rows = [*member_rows(60), member_rows(1, start=3)[0]]
    rows[-1][2] = "C9999999"  # another contract, the same member number
    before = snapshot(runtime.engine)
    with pytest.raises(FileRejected, match=r"bad\.csv:63: member_number: same member") as caught:
        load.import_paths(paths=[write(tmp_path / "bad.csv", FileKind.MEMBERS, rows)])
    assert caught.value.problems.total == 1
    assert snapshot(runtime.engine) == before
    (report,) = load.import_paths(paths=[write(tmp_path / "good.csv", FileKind.MEMBERS,
                                               rows[:-1])])
    assert report.counts["members_inserted"] == 60


def test_values_the_quick_checks_leave_to_the_parsers_are_stored_normalised(
        runtime: Runtime, tmp_path: Path) -> None:
    load = importer(runtime, workers=0)
    load.import_paths(paths=reference_files(tmp_path / "ref"))
    odd = person_row(1, amc=AMC_2)
    odd[7], odd[8], odd[11], odd[12] = odd[7].lower(), "01", "01", "  " + odd[12] + " "
    plain = person_row(2, amc=AMC_2)
    load.import_paths(paths=[write(tmp_path / "m.csv", FileKind.MEMBERS, [odd, plain])])
    vault = runtime.vault
    with runtime.engine.connect() as conn:
        stored = conn.execute(text("SELECT rank, sealed, key_version, member_idx "
                                   "FROM beneficiaries WHERE member_idx = :idx"),
                              {"idx": sealing.member_index(vault, AMC_2, odd[7].upper())}).one()
    person = sealing.open_person(vault, stored.sealed, version=stored.key_version,
                                 member_idx=stored.member_idx)
    assert stored.rank == 1
    assert (person.member_number, person.birth_rank, person.last_name) == (
        odd[7].upper(), 1, odd[12].strip())


def test_a_first_load_with_households_apart_stores_what_a_grouped_one_stores(
        runtime: Runtime, tmp_path: Path) -> None:
    """Contracts of a first load are inserted without a look-up; a contract stated again
    chunks later trips its unique key, and the chunk takes the looked-up path."""
    load = importer(runtime, workers=0)
    load.import_paths(paths=reference_files(tmp_path / "ref"))
    rows = member_rows(120)
    (grouped,) = load.import_paths(paths=[write(tmp_path / "grouped.csv", FileKind.MEMBERS,
                                                rows)])
    expected = population_content(runtime)
    forget_members(runtime)
    (apart,) = load.import_paths(paths=[write(tmp_path / "apart.csv", FileKind.MEMBERS,
                                              rows[::2] + rows[1::2])])
    assert apart.counts == grouped.counts
    assert apart.counts["contracts_inserted"] == 60
    assert by_content(population_content(runtime)) == by_content(expected)


def by_content(population: dict[str, list[tuple[object, ...]]]) -> list[tuple[object, ...]]:
    """Each beneficiary with its contract's columns in place of the ids (ids follow the
    order in which a file first states rows)."""
    contracts = {c[0]: c[1:] for c in population["contracts"]}
    return sorted((contracts[b[2]], *b[3:]) for b in population["beneficiaries"])


def test_a_sqlite_import_leaves_the_connection_as_the_engine_made_it(tmp_path: Path) -> None:
    """The import reads without the memory map (its pages would stay resident and the
    importer's memory would grow with the database) and with a larger page cache."""
    with Runtime.open(sqlite_settings(tmp_path / "instance"), create_keys=True) as runtime:
        importer(runtime, workers=0).import_paths(paths=[
            *reference_files(tmp_path / "ref"),
            write(tmp_path / "m.csv", FileKind.MEMBERS, member_rows(4))])
        with runtime.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == MMAP_BYTES
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -CACHE_KIB


def test_files_in_a_row_share_the_pool_and_a_file_twice_is_applied_once(
        runtime: Runtime, tmp_path: Path) -> None:
    """The workers prepare the next file while this one is committed; the same file under
    a second name (prepared ahead all the same) is then already applied."""
    parallel = importer(runtime, workers=1)
    parallel.import_paths(paths=reference_files(tmp_path / "ref"))
    first = write(tmp_path / "a.csv", FileKind.MEMBERS, member_rows(80))
    again = tmp_path / "b.csv"
    again.write_bytes(first.read_bytes())
    other = write(tmp_path / "c.csv", FileKind.MEMBERS, member_rows(60, amc=AMC_2))
    reports = parallel.import_paths(paths=[first, again, other])
    assert [(r.name, r.status) for r in reports] == [
        ("a.csv", "applied"), ("b.csv", "already applied"), ("c.csv", "applied")]
    parallel_content = population_content(runtime)
    forget_members(runtime)
    importer(runtime, workers=0).import_paths(paths=[first, other])
    assert population_content(runtime) == parallel_content


def test_chunks_prepared_ahead_under_another_configuration_are_prepared_again(
        runtime: Runtime, tmp_path: Path) -> None:
    """What the workers prepared for the next file is used only if that file's own
    transaction reads the same insurers and tiers."""
    importer(runtime, workers=0).import_paths(paths=reference_files(tmp_path / "ref"))
    first = read_head(write(tmp_path / "a.csv", FileKind.MEMBERS, member_rows(40)),
                      Problems("a.csv"))
    second = read_head(write(tmp_path / "b.csv", FileKind.MEMBERS, member_rows(40, start=40)),
                       Problems("b.csv"))
    assert first is not None
    assert second is not None
    with runtime.engine.connect() as conn:
        insurers = dict(conn.execute(text("SELECT amc_number, id FROM insurers")).all())
        tiers = {(i, t) for i, t in conn.execute(text("SELECT insurer_id, tier FROM guarantees"))}
    known = PreparerConfig(insurers=insurers, tiers=tiers, today=NOW.date(),
                           mode=FileMode.FULL)
    no_tiers = PreparerConfig(insurers=insurers, tiers=set(), today=NOW.date(),
                              mode=FileMode.FULL)
    with ChunkFeed(workers=1, vault=runtime.vault, chunk_bytes=600) as feed:
        good = list(feed.chunks(head=first, config=known, then=lambda: second))
        assert not any(chunk.problems for chunk in good)
        refused = list(feed.chunks(head=second, config=no_tiers))
    assert sum(chunk.lines for chunk in refused) == 40
    assert {(p.line, p.field) for chunk in refused for p in chunk.problems} == {
        (line, "tier") for line in range(3, 43)}
    assert not any(chunk.members.lines for chunk in refused)
