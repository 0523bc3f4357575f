"""`rempart synth` on the command line: files written, counts printed, no personal data."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from rempart.cli.main import app
from rempart.ingest.formats import COLUMNS, FileKind
from rempart.synth import SynthManifest

PERSONAL = ("nir", "birth_date", "last_name", "first_name", "member_number",
            "contract_number", "postcode")


def _personal_values(directory: Path) -> set[str]:
    columns = COLUMNS[FileKind.MEMBERS]
    values: set[str] = set()
    for path in directory.glob("members-*.csv"):
        for line in path.read_text("utf-8").splitlines()[2:-1]:
            row = dict(zip(columns, line.split(";"), strict=True))
            values.update(row[c] for c in PERSONAL)
    return values


def _words(text: str) -> set[str]:
    return set(re.findall(r"[\w-]+", text))


def test_synth_writes_files_and_prints_counts_only(tmp_path: Path) -> None:
    out = tmp_path / "population"
    result = CliRunner().invoke(app, ["synth", "--people", "800", "--seed", "4", "--out",
                                      str(out), "--part-rows", "100", "--today", "2026-06-01"])
    assert result.exit_code == 0, result.output
    manifest = SynthManifest.load(out)
    assert manifest.people == 800
    assert manifest.seed == 4
    assert all(path.exists() for path in manifest.paths(out))
    assert "800" in result.output
    assert "members" in result.output
    personal = _personal_values(out)
    assert len(personal) > 1_000
    assert not _words(result.output) & personal
    assert not _words((out / "manifest.json").read_text("utf-8")) & personal


def test_synth_refuses_a_directory_in_use(tmp_path: Path) -> None:
    (tmp_path / "other.csv").write_text("not ours")
    result = CliRunner().invoke(app, ["synth", "--people", "10", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "not an empty directory" in " ".join(result.output.split())
    assert [p.name for p in tmp_path.iterdir()] == ["other.csv"]


def test_synth_refuses_a_bad_reference_date(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["synth", "--people", "10", "--out", str(tmp_path / "o"),
                                      "--today", "2026-02-30"])
    assert result.exit_code == 2
    assert not (tmp_path / "o").exists()


def test_same_seed_same_bytes_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    """No dependence on set or dict order: other PYTHONHASHSEED, same files."""
    script = ("import datetime, pathlib, sys; from rempart.synth import generate_population; "
              "generate_population(out=pathlib.Path(sys.argv[1]), people=300, seed=9, "
              "today=datetime.date(2026, 6, 1))")
    outputs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"hash{hash_seed}"
        subprocess.run([sys.executable, "-c", script, str(out)], check=True, timeout=120,
                       env={**os.environ, "PYTHONHASHSEED": hash_seed})
        outputs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outputs[0] == outputs[1]
