"""`rempart audit ...`: exit codes and messages an operator can act on."""

from __future__ import annotations

import dataclasses
import datetime as dt
import stat
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from audit_support import AuditBed, copy_of, make_bed
from rempart.audit import SigningKey
from rempart.cli.main import app
from rempart.runtime import Runtime
from rempart.settings import Settings

runner = CliRunner()
LONG_AGO = dt.datetime(2024, 2, 1, 9, 0, tzinfo=dt.UTC)


def _use(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("REMPART_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("REMPART_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REMPART_KEY_FILE", str(settings.key_file))


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["audit", *args])
    return result.exit_code, " ".join(result.output.split())  # Rich wraps long lines


@pytest.fixture
def bed(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[AuditBed]:
    """A log written in 2024, and its signing key in the instance, as keygen leaves it."""
    _use(monkeypatch, runtime.settings)
    code, output = _run("keygen")
    assert code == 0, output
    bed = make_bed(runtime, start=LONG_AGO)
    bed.key = SigningKey.load(runtime.settings.audit_signing_key)
    bed.fill(25)
    try:
        yield bed
    finally:
        bed.log.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # backend-agnostic
def test_keygen_writes_an_owner_only_key_and_never_overwrites_it(bed: AuditBed) -> None:
    key_path = bed.settings.audit_signing_key
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert key_path.with_name(key_path.name + ".pub").exists()
    before = key_path.read_bytes()
    code, output = _run("keygen")
    assert code == 2
    assert "already exists" in output
    assert key_path.read_bytes() == before


def test_checkpoint_export_and_verify(bed: AuditBed, tmp_path: Path) -> None:
    copy = tmp_path / "offsite" / "checkpoints.jsonl"
    code, output = _run("checkpoint", "--export-to", str(copy))
    assert code == 0, output
    assert "positions 1..25" in output
    assert "exported 1 checkpoint(s)" in output
    assert _run("checkpoint")[1].startswith("nothing new")
    code, output = _run("verify", "--against", str(copy))
    assert code == 0, output
    assert "intact" in output
    bed.fill(3)
    _run("checkpoint")
    code, output = _run("export", "--to", str(copy))
    assert (code, "exported 1 new checkpoint(s)" in output) == (0, True), output
    assert len(copy.read_bytes().splitlines()) == 2


def test_verify_exits_non_zero_naming_the_first_bad_position(
        bed: AuditBed, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _run("checkpoint")[0] == 0
    if bed.engine.dialect.name == "sqlite":
        settings, engine = copy_of(bed)
        _use(monkeypatch, settings)
    else:
        engine = bed.engine
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_entries SET account_id = 3 WHERE position = 17")
    code, output = _run("verify")
    assert code == 1
    assert "first bad position 17" in output


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # backend-agnostic
def test_verify_with_only_the_public_key(bed: AuditBed) -> None:
    _run("checkpoint")
    key_path = bed.settings.audit_signing_key
    public = key_path.with_name(key_path.name + ".pub")
    key_path.unlink()
    code, output = _run("verify", "--public-key", str(public))
    assert code == 0, output
    assert _run("verify")[0] == 0  # falls back to <key>.pub
    code, output = _run("checkpoint")
    assert code == 2
    assert "rempart audit keygen" in output


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # backend-agnostic
def test_an_unreadable_checkpoint_file_is_a_clear_error(bed: AuditBed, tmp_path: Path) -> None:
    garbage = tmp_path / "copy.jsonl"
    garbage.write_bytes(b"%PDF-1.4 not a checkpoint file\n")
    code, output = _run("verify", "--against", str(garbage))
    assert code == 2
    assert "line 1: not valid JSON" in output


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # backend-agnostic
def test_archive_then_verify_the_archive_and_the_rest(bed: AuditBed, tmp_path: Path) -> None:
    _run("checkpoint")
    code, output = _run("archive", "--older-than", "30", "--to", str(tmp_path / "archives"))
    assert code == 0, output
    assert "archived positions 1..25" in output
    [archive] = (tmp_path / "archives").glob("*.jsonl")
    code, output = _run("verify", "--archive", str(archive))
    assert code == 0, output
    code, output = _run("verify")
    assert code == 0, output
    assert "positions 26..26" in output  # the archive itself was audited, at position 26
    assert bed.row(26)["event"] == "audit.archived"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_verify_on_a_database_without_an_audit_log(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   settings: Settings) -> None:
    empty = dataclasses.replace(settings, database_url=f"sqlite:///{tmp_path / 'empty.db'}")
    _use(monkeypatch, empty)
    SigningKey.generate().save(empty.audit_signing_key)
    code, output = _run("verify")
    assert code == 2
    assert "no audit log" in output


def test_bench_prints_figures() -> None:
    result = runner.invoke(app, ["audit", "bench", "--entries", "200", "--threads", "4"])
    assert result.exit_code == 0, result.output
    figures = orjson.loads(result.output.strip().splitlines()[-1])
    assert figures["verified"] is True
    assert figures["appends_per_s"] > 0


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # backend-agnostic
def test_a_rotated_signing_key_keeps_old_checkpoints_verifiable(bed: AuditBed,
                                                                tmp_path: Path) -> None:
    assert _run("checkpoint")[0] == 0
    key_path = bed.settings.audit_signing_key
    old_public = tmp_path / "2025.pub"
    key_path.with_name(key_path.name + ".pub").rename(old_public)
    key_path.unlink()
    assert _run("keygen")[0] == 0
    new_public = key_path.with_name(key_path.name + ".pub")
    bed.fill(3)
    code, output = _run("checkpoint")
    assert code == 2
    assert "unknown key" in output
    assert _run("checkpoint", "--public-key", str(old_public))[0] == 0
    code, output = _run("verify")
    assert code == 1
    assert "first bad position 1: checkpoint 1 is signed by an unknown key" in output
    code, output = _run("verify", "--public-key", str(old_public), "--public-key",
                        str(new_public))
    assert code == 0, output
