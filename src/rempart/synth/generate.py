"""`generate_population`: write a whole synthetic population as insurer files.

One `random.Random(seed)` drives everything, in a fixed order, with no dependence on
hash order or the wall clock (except `today`, which callers pass), so a seed gives
byte-identical files. Rows are written as they are generated; what stays in memory is
bounded by the reference tables and the NIR counters, not by the number of persons.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from pathlib import Path

from rempart.ingest.formats import FileKind
from rempart.synth.contracts import ContractFactory
from rempart.synth.errors import SynthError
from rempart.synth.guarantees import guarantee_grid
from rempart.synth.households import MAX_HOUSEHOLD_SIZE, HouseholdFactory
from rempart.synth.insurers import INSURERS
from rempart.synth.manifest import MANIFEST_NAME, SynthFile, SynthManifest
from rempart.synth.people import PersonFactory
from rempart.synth.providers import ProviderFactory
from rempart.synth.rows import (
    guarantee_line,
    household_lines,
    insurer_line,
    organisation_line,
    professional_line,
)
from rempart.synth.tables import Tables, load_tables
from rempart.synth.writing import FramedWriter, MemberParts

MAX_PEOPLE = 100_000_000
PROGRESS_EVERY = 10_000


def generate_population(*, out: Path, people: int, seed: int, part_rows: int = 1_000_000,
                        today: dt.date | None = None,
                        on_progress: Callable[[int], None] | None = None) -> SynthManifest:
    """Write insurers, guarantees, organisations, professionals and members files to `out`.

    `out` must be empty or not exist yet; `manifest.json` is written last, so its
    presence means the population is complete. `on_progress` is called now and then
    with the number of persons written so far.
    """
    _check_arguments(out=out, people=people, part_rows=part_rows)
    today = today or dt.date.today()
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    tables = load_tables()
    files = [_write_insurers(out), _write_guarantees(out, rng, today)]
    files += _write_providers(out, rng, tables, people)
    members, households = _write_members(out, rng, tables, today=today, people=people,
                                         part_rows=part_rows, on_progress=on_progress)
    manifest = SynthManifest(seed=seed, people=people, today=today, part_rows=part_rows,
                             households=households, files=tuple(files + members))
    (out / MANIFEST_NAME).write_bytes(manifest.to_json())
    return manifest


def _check_arguments(*, out: Path, people: int, part_rows: int) -> None:
    if not 1 <= people <= MAX_PEOPLE:
        raise SynthError(f"people must be between 1 and {MAX_PEOPLE:,}")
    if part_rows < MAX_HOUSEHOLD_SIZE:
        raise SynthError(f"part rows must be at least {MAX_HOUSEHOLD_SIZE}, the largest household")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SynthError(f"{out} is not an empty directory: choose a new output directory")


def _write_insurers(out: Path) -> SynthFile:
    writer = FramedWriter(out, "insurers.csv", FileKind.INSURERS)
    for profile in INSURERS:
        writer.write(insurer_line(profile), 1)
    return writer.close()


def _write_guarantees(out: Path, rng: random.Random, today: dt.date) -> SynthFile:
    writer = FramedWriter(out, "guarantees.csv", FileKind.GUARANTEES)
    for row in guarantee_grid(rng, today=today):
        writer.write(guarantee_line(row), 1)
    return writer.close()


def _write_providers(out: Path, rng: random.Random, tables: Tables,
                     people: int) -> list[SynthFile]:
    organisations = FramedWriter(out, "organisations.csv", FileKind.ORGANISATIONS)
    professionals = FramedWriter(out, "professionals.csv", FileKind.PROFESSIONALS)
    for organisation, staff in ProviderFactory(rng, tables).providers(people):
        organisations.write(organisation_line(organisation), 1)
        professionals.write("".join(professional_line(p) for p in staff), len(staff))
    return [organisations.close(), professionals.close()]


def _write_members(out: Path, rng: random.Random, tables: Tables, *, today: dt.date,
                   people: int, part_rows: int,
                   on_progress: Callable[[int], None] | None) -> tuple[list[SynthFile], int]:
    people_factory = PersonFactory(rng, tables, today)
    days = people_factory.days
    households = HouseholdFactory(rng, tables, people_factory)
    contracts = ContractFactory(rng, tables, days)
    parts = [MemberParts(out, p.amc_number, part_rows) for p in INSURERS]
    written = count = 0
    next_report = PROGRESS_EVERY
    while written < people:
        household = households.household(people - written)
        contract = contracts.contract(household)
        size = len(household.members)
        parts[contract.insurer].write_household(household_lines(household, contract, days), size)
        written += size
        count += 1
        if on_progress is not None and written >= next_report:
            on_progress(written)
            next_report = written + PROGRESS_EVERY
    if on_progress is not None:
        on_progress(written)
    files = [file for insurer_parts in parts for file in insurer_parts.close()]
    return files, count
