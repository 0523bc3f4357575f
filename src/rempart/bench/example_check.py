"""The example check that `rempart demo` offers: a synthetic person with a contract in force.

The body is written to a file that only its owner can read, and the demo prints a
command that sends the file: the terminal never shows the person's identifiers.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import orjson

from rempart.bench.errors import BenchError
from rempart.bench.instance import LocalInstance
from rempart.ingest.formats import COLUMNS, DELIMITER, FileKind

EXAMPLE_FILE = "example-check.json"
EXAMPLE_CATEGORY = "pharmacy"
_COLUMNS = COLUMNS[FileKind.MEMBERS]


def write_example_check(instance: LocalInstance, *, today: dt.date) -> Path:
    """Write the body of a check that answers covered; return the file's path (mode 600)."""
    row = _person_in_force(instance, today)
    body = orjson.dumps({
        "nir": row["nir"], "birth_date": row["birth_date"],
        "birth_rank": int(row["birth_rank"]), "amc_number": row["amc_number"],
        "member_number": row["member_number"], "category": EXAMPLE_CATEGORY,
        "care_date": today.isoformat(),
    }, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    path = instance.directory / EXAMPLE_FILE
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)  # also when the file was already there
        handle.write(body)
    return path


def _person_in_force(instance: LocalInstance, today: dt.date) -> dict[str, str]:
    day = today.isoformat()
    for file in instance.manifest.files:
        if file.kind is not FileKind.MEMBERS:
            continue
        with (instance.population_dir / file.name).open(encoding="utf-8") as handle:
            handle.readline()
            handle.readline()
            for line in handle:
                if line.startswith("#"):
                    continue
                row = dict(zip(_COLUMNS, line.rstrip("\n").split(DELIMITER), strict=True))
                if row["contract_start"] <= day and (not row["contract_end"]
                                                     or row["contract_end"] >= day):
                    return row
    raise BenchError("the population has nobody with a contract in force today")
