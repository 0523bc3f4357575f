"""Small, valid import files for the importer's tests (obviously fake people)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from rempart.core.identifiers import build_nir
from rempart.ingest.filewriter import write_import_file
from rempart.ingest.formats import COLUMNS, FileKind, FileMode

AMC = "999000001"
AMC_2 = "999000002"
TIERS = ("ESSENTIEL", "CONFORT")


def insurer_rows() -> list[list[str]]:
    return [[AMC, "Mutuelle Exemple"], [AMC_2, "Prévoyance Fictive"]]


def guarantee_rows() -> list[list[str]]:
    rows = []
    for amc in (AMC, AMC_2):
        for tier in TIERS:
            rows.append([amc, tier, "pharmacy", "base_share", "10000", "", "", "", "1",
                         "2020-01-01", ""])
            rows.append([amc, tier, "optical", "ceiling", "", "15000", "30000", "24", "1",
                         "2020-01-01", "2030-12-31"])
    return rows


def person_row(i: int, *, amc: str = AMC, household: int | None = None, rank: int = 1,
               op: str = "upsert", last_name: str = "TESTNOM") -> list[str]:
    """Person i: contract C<household>, member M<i>, a NIR consistent with the birth date."""
    born = dt.date(1950 + i % 50, 1 + i % 12, 1 + i % 28)
    nir = build_nir(sex=1 + i % 2, birth_year=born.year, birth_month=born.month,
                    place=f"{75 + i % 3:02d}{i % 1000:03d}", serial=1 + (i // 1000) % 999)
    contract = f"C{household if household is not None else i:07d}"
    return [op, amc, contract, TIERS[0], "2021-01-01", "", "1", f"M{i:08d}", str(rank),
            nir, born.isoformat(), "1", f"{last_name}{i}", f"Prenom{i}", "married",
            "75011", "75"]


def member_rows(count: int, *, start: int = 0, amc: str = AMC) -> list[list[str]]:
    """Households of two: persons 2k and 2k+1 share contract k."""
    return [person_row(i, amc=amc, household=i // 2, rank=1 + i % 2)
            for i in range(start, start + count)]


def terminate_row(household: int, end: str, *, amc: str = AMC) -> list[str]:
    row = [""] * len(COLUMNS[FileKind.MEMBERS])
    row[0], row[1], row[2], row[5] = "terminate", amc, f"C{household:07d}", end
    return row


def write(path: Path, kind: FileKind, rows: list[list[str]],
          mode: FileMode = FileMode.FULL) -> Path:
    write_import_file(path, kind, mode, rows)
    return path


def reference_files(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    return [write(directory / "insurers.csv", FileKind.INSURERS, insurer_rows()),
            write(directory / "guarantees.csv", FileKind.GUARANTEES, guarantee_rows())]
