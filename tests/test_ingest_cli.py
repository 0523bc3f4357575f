"""`rempart import` end to end: exit codes, key file problems, and a killed import."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest_samples import member_rows, reference_files, write
from rempart.ingest.formats import FileKind
from rempart.ingest.service import Importer
from rempart.runtime import Runtime
from rempart.settings import Settings
from rempart.vault import Keyring
from test_ingest_members import snapshot


def run_import(settings: Settings, *paths: Path, options: tuple[str, ...] = ()
               ) -> subprocess.Popen[str]:
    env = {**os.environ, "REMPART_DATABASE_URL": settings.database_url,
           "REMPART_KEY_FILE": str(settings.key_file)}
    return subprocess.Popen([sys.executable, "-m", "rempart", "import", *map(str, paths),
                             "--data-dir", str(settings.data_dir), *options], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def load_in_process(runtime: Runtime, paths: list[Path]) -> None:
    Importer(engine=runtime.engine, vault=runtime.vault, clock=runtime.clock).import_paths(
        paths=paths)


def leftover_processes(marker: str, wait: float = 5.0) -> list[int]:
    """Processes whose command line names the instance, after giving them time to exit."""
    deadline = time.monotonic() + wait
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and marker in (entry / "cmdline").read_bytes().decode(
                        errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def finished(process: subprocess.Popen[str]) -> tuple[int, str]:
    _out, err = process.communicate(timeout=120)
    return process.returncode, err


@pytest.mark.parametrize("backend", ["sqlite"])
def test_cli_applies_files_then_reports_them_already_applied(
        runtime: Runtime, settings: Settings, tmp_path: Path) -> None:
    files = [*reference_files(tmp_path / "in"),
             write(tmp_path / "in" / "members.csv", FileKind.MEMBERS, member_rows(6))]
    code, err = finished(run_import(settings, tmp_path / "in"))
    assert code == 0, err
    assert "members.csv: applied 6 rows" in err
    code, err = finished(run_import(settings, *files))
    assert code == 0
    assert "3 already applied" in err


@pytest.mark.parametrize("backend", ["sqlite"])
def test_cli_rejects_a_bad_file_with_its_line_and_exit_status(
        runtime: Runtime, settings: Settings, tmp_path: Path) -> None:
    reference_files(tmp_path / "in")
    rows = member_rows(3)
    rows[1][9] = "199999999999999"
    write(tmp_path / "in" / "members.csv", FileKind.MEMBERS, rows)
    code, err = finished(run_import(settings, tmp_path / "in"))
    assert code != 0
    assert "members.csv:4: nir:" in err
    assert "199999999999999" not in err
    assert rows[0][9] not in err


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("problem", ["missing", "world-readable", "wrong keyring"])
def test_cli_refuses_a_bad_key_file_before_writing(problem: str, runtime: Runtime,
                                                   settings: Settings, tmp_path: Path) -> None:
    load_in_process(runtime, [*reference_files(tmp_path / "in"),
                              write(tmp_path / "members.csv", FileKind.MEMBERS, member_rows(2))])
    more = write(tmp_path / "more.csv", FileKind.MEMBERS, member_rows(2, start=10))
    if problem == "missing":
        settings.key_file.unlink()
        expected = "does not exist"
    elif problem == "world-readable":
        settings.key_file.chmod(0o644)
        expected = "readable by group or others"
    else:
        Keyring.generate().save(settings.key_file)
        expected = "cannot open the rows already stored"
    before = snapshot(runtime.engine)
    code, err = finished(run_import(settings, more))
    assert code != 0
    assert expected in err
    assert snapshot(runtime.engine) == before


def test_a_killed_import_leaves_the_database_as_before_that_file(
        runtime: Runtime, settings: Settings, tmp_path: Path) -> None:
    load_in_process(runtime, [*reference_files(tmp_path / "ref"),
                              write(tmp_path / "first.csv", FileKind.MEMBERS, member_rows(10))])
    big = write(tmp_path / "big.csv", FileKind.MEMBERS, member_rows(30_000, start=100))
    before = snapshot(runtime.engine)
    process = run_import(settings, big, options=("--workers", "2"))
    assert process.stderr is not None
    line = process.stderr.readline()
    assert "applying big.csv" in line
    time.sleep(0.5)  # inside the file: it takes seconds, and rows are written by batches
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL  # killed, not finished
    assert snapshot(runtime.engine) == before
    assert not leftover_processes(str(settings.data_dir))  # its workers are gone too
    # The instance is usable afterwards: the next file applies.
    load_in_process(runtime, [write(tmp_path / "next.csv", FileKind.MEMBERS,
                                    member_rows(4, start=50))])
    assert len(snapshot(runtime.engine)["beneficiaries"]) == len(before["beneficiaries"]) + 4
