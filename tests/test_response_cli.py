"""`rempart breach report`: counts on the terminal, never a name; bad input writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rempart.cli import breach_cmd
from rempart.cli.main import app
from rempart.response import Scope, UnavailableDirectory, write_scope_files
from rempart.settings import Settings
from response_factory import FakeDirectory, person, scope


def _scope() -> Scope:
    # Detected long ago: the report runs on the system clock.
    return scope(person(1, "111", "nir", "birth_date"), person(2, "111", "coverage"),
                 person(3, "222", "last_name", "first_name"))


@pytest.fixture
def scope_file(tmp_path: Path) -> Path:
    path = tmp_path / "scope.json"
    write_scope_files(_scope(), json_path=path)
    return path


@pytest.fixture
def fake_directory(monkeypatch: pytest.MonkeyPatch) -> FakeDirectory:
    directory = FakeDirectory.for_scope(_scope())
    # The seam the vault-backed directory will plug into.
    monkeypatch.setattr(breach_cmd, "make_directory", lambda settings: directory)
    return directory


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["breach", "report", *args])
    return result.exit_code, result.output


def _personal_values(directory: FakeDirectory) -> list[str]:
    return [value for who in directory.people.values()
            for value in (who.first_name, who.last_name, who.member_number)]


@pytest.mark.usefixtures("fake_directory")
def test_report_prints_counts_and_no_personal_data(tmp_path: Path, scope_file: Path,
                                                   fake_directory: FakeDirectory) -> None:
    out = tmp_path / "report"
    code, output = _run("--scope", str(scope_file), "--out", str(out), "--dpo-name", "Fake DPO",
                        "--dpo-contact", "dpo@example.test", "--lang", "both",
                        "--measure", "accounts 12 and 40 suspended")
    assert code == 0, output
    assert "6 letters for 3 persons of 2 insurers" in output
    assert "article 33 deadline 2024-02-05 14:00 UTC (PASSED" in output
    assert "still to complete in the draft: delay_reasons" in output
    for value in _personal_values(fake_directory):
        assert value not in output
    # The letters themselves do name the persons.
    letter = (out / "letters" / "111" / "fr" / "letters-0001.html").read_text(encoding="utf-8")
    assert "Fakelast1" in letter


@pytest.mark.usefixtures("fake_directory")
def test_one_language(tmp_path: Path, scope_file: Path) -> None:
    code, output = _run("--scope", str(scope_file), "--out", str(tmp_path / "r"), "--lang", "fr")
    assert code == 0, output
    assert "3 letters for 3 persons" in output
    assert "contact_name, contact_details, containment" in output
    assert not (tmp_path / "r" / "letters" / "111" / "en").exists()


@pytest.mark.usefixtures("fake_directory")
@pytest.mark.parametrize("content", [
    b'{"format": "rempart-breach-scope/1", "persons": [{"person_id": 1',
    b"#rempart:breach-scope:v1\n#meta;detected_at;2024-02-01T10:00:00+00:00\n",
    b"not a scope",
])
def test_malformed_scope_fails_clearly_and_writes_nothing(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    code, output = _run("--scope", str(bad), "--out", str(tmp_path / "report"))
    assert code == 2
    assert "error:" in output
    assert "scope file" in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]


@pytest.mark.usefixtures("fake_directory")
def test_unknown_person_names_the_internal_id_only(tmp_path: Path, scope_file: Path,
                                                  fake_directory: FakeDirectory) -> None:
    del fake_directory.people[3]
    code, output = _run("--scope", str(scope_file), "--out", str(tmp_path / "report"))
    assert code == 2
    assert "person id 3" in output
    for value in _personal_values(fake_directory):
        assert value not in output
    assert not (tmp_path / "report").exists()


def test_without_a_wired_directory_the_command_says_so(tmp_path: Path, scope_file: Path) -> None:
    assert isinstance(breach_cmd.make_directory(Settings.load(data_dir=tmp_path)),
                      UnavailableDirectory)
    code, output = _run("--scope", str(scope_file), "--out", str(tmp_path / "report"))
    assert code == 2
    assert "person directory" in output
    assert not (tmp_path / "report").exists()


def test_bad_language_is_refused(tmp_path: Path, scope_file: Path) -> None:
    code, _output = _run("--scope", str(scope_file), "--out", str(tmp_path / "r"), "--lang", "de")
    assert code != 0
    assert not (tmp_path / "r").exists()


def test_detection_later_than_now_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.json"
    write_scope_files(scope(person(1, "111", "nir"), detected=24 * 365 * 80), json_path=path)
    code, output = _run("--scope", str(path), "--out", str(tmp_path / "r"))
    assert code == 2
    assert "detection time is later than now" in output
    assert not (tmp_path / "r").exists()
