"""A copy of the database (file or pg_dump) after loading a population reveals no identity.

The population comes from the synthetic files through the real importer; the copy is
searched for every person's NIR, names and date of birth in every encoding the test can
think of: UTF-8, UTF-16 (both byte orders), hex (both cases) and base64 (all three
alignments), dates in several layouts. Names that also appear in clear non-personal
files (provider names such as "Pharmacie Martin") and dates that are also contract or
guarantee dates are left out, since they are in the database legitimately.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from rempart.ingest.formats import COLUMNS, FileKind
from rempart.ingest.service import Importer
from rempart.runtime import Runtime
from rempart.settings import Settings
from rempart.synth import generate_population

PEOPLE = 400
TODAY = dt.date(2026, 6, 1)


def _rows(path: Path) -> list[dict[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    columns = lines[1].split(";")
    return [dict(zip(columns, line.split(";"), strict=True)) for line in lines[2:-1]]


def _population(out: Path) -> tuple[list[dict[str, str]], str, set[str]]:
    """Members rows, the clear text of the non-personal files, and non-personal dates."""
    members: list[dict[str, str]] = []
    clear_text = ""
    dates: set[str] = set()
    for path in sorted(out.glob("*.csv")):
        if path.name.startswith("members-"):
            rows = _rows(path)
            members += rows
            for row in rows:
                dates.update({row["contract_start"], row["contract_end"]})
        else:
            clear_text += path.read_text(encoding="utf-8").upper()
            if path.name == "guarantees.csv":
                for row in _rows(path):
                    dates.update({row["valid_from"], row["valid_to"]})
    assert set(members[0]) == set(COLUMNS[FileKind.MEMBERS])
    return members, clear_text, dates


def _encodings(text: str) -> list[bytes]:
    raw = text.encode("utf-8")
    found = [raw, text.encode("utf-16-le"), text.encode("utf-16-be"),
             raw.hex().encode(), raw.hex().upper().encode()]
    for shift in range(3):  # base64 of the value at each alignment, without edge chars
        encoded = base64.b64encode(b"\x00" * shift + raw)[4 if shift else 0:]
        found.append(encoded[:-4] if len(encoded) > 8 else encoded)
    return found


def _needles(members: list[dict[str, str]], clear_text: str,
             dates: set[str]) -> dict[str, list[bytes]]:
    needles: dict[str, list[bytes]] = {}
    for row in members:
        values = [row["nir"], row["nir"][:13], row["member_number"], row["contract_number"]]
        values += [name for name in (row["last_name"], row["first_name"])
                   if len(name) >= 4 and name.upper() not in clear_text]
        if row["birth_date"] not in dates:
            day = dt.date.fromisoformat(row["birth_date"])
            values += [day.isoformat(), day.strftime("%d/%m/%Y"), day.strftime("%Y%m%d")]
        for value in values:
            needles[value] = _encodings(value)
    return needles


def _leaks(blob: bytes, needles: dict[str, list[bytes]]) -> int:
    return sum(1 for forms in needles.values() if any(form in blob for form in forms))


def _load(settings: Settings, tmp_path: Path) -> Runtime:
    out = tmp_path / "synth"
    generate_population(out=out, people=PEOPLE, seed=11, today=TODAY)
    runtime = Runtime.open(settings, create_keys=True)
    Importer(engine=runtime.engine, vault=runtime.vault, clock=runtime.clock).import_paths(
        paths=[out])
    return runtime


def test_database_copy_reveals_no_identity(settings: Settings, backend: str,
                                           tmp_path: Path) -> None:
    runtime = _load(settings, tmp_path)
    members, clear_text, dates = _population(tmp_path / "synth")
    needles = _needles(members, clear_text, dates)
    assert len(members) == PEOPLE
    assert len(needles) > 3 * PEOPLE

    if backend == "sqlite":
        runtime.close()
        copy = tmp_path / "stolen"
        copy.mkdir()
        for path in settings.data_dir.glob("rempart.db*"):
            shutil.copy(path, copy / path.name)
        blob = b"".join(p.read_bytes() for p in sorted(copy.iterdir()))
        with sqlite3.connect(copy / "rempart.db") as conn:  # the copy really holds them
            assert conn.execute("select count(*) from beneficiaries").fetchone()[0] == PEOPLE
    else:
        url = make_url(settings.database_url)
        dump = subprocess.run(
            ["pg_dump", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
             "-U", url.username or "postgres", url.database or ""],
            check=True, capture_output=True, env={**os.environ, "PGCONNECT_TIMEOUT": "5"},
        )
        runtime.close()
        blob = dump.stdout
        assert b"COPY public.beneficiaries" in blob

    assert _leaks(blob, needles) == 0
    # The search itself is able to find what it looks for, in every encoding.
    planted = blob + b"".join(_encodings(members[0]["nir"]))
    assert _leaks(planted, needles) >= 1
