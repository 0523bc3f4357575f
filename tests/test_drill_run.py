"""`rempart drill` end to end on a tiny instance: one JSON object, the scores the issue
names, zero records for the password-only and copied-token attacks, every audit-log
tampering seen, a readable report, and no identity anywhere in what it prints or writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rempart.cli.main import app
from rempart.drill.truth import read_members
from rempart.drill.world import START
from rempart.synth import generate_population

ARGS = ["drill", "--json", "--scenario", "S1,S9,S7,S8", "--seed", "3", "--days", "1",
        "--population", "80", "--accounts", "4"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any], Path]:
    report = tmp_path_factory.mktemp("report")
    result = CliRunner().invoke(app, [*ARGS, "--report", str(report)])
    assert result.exit_code == 0, result.output
    return result, json.loads(result.stdout), report / "drill.html"


def test_one_json_object_with_the_named_scores(run: tuple[Any, dict[str, Any], Path]) -> None:
    _, body, _ = run
    assert set(body["scenarios"]) == {"S1", "S9", "S7", "S8"}
    for name in ("S1", "S9", "S7"):
        score = body["scenarios"][name]
        for key in ("records_disclosed", "records_attempted", "accounts_used",
                    "time_to_detect_s", "time_to_contain_s"):
            assert key in score
        assert 0 <= score["records_disclosed"] <= score["records_attempted"]
    for key in ("accounts", "checks", "accounts_with_friction", "friction_rate",
                "accounts_suspended"):
        assert key in body["legit"]
    assert body["legit"]["checks"] > 0


def test_authentication_alone_stops_password_only_and_copied_tokens(
        run: tuple[Any, dict[str, Any], Path]) -> None:
    _, body, _ = run
    for name in ("S1", "S9"):
        score = body["scenarios"][name]
        assert score["records_attempted"] > 0
        assert score["records_disclosed"] == 0
        assert score["time_to_detect_s"] is not None
    # The honest providers beside them did get answers.
    assert body["scenarios"]["S1"]["legit"]["covered_answers"] > 0


def test_artefact_scenarios(run: tuple[Any, dict[str, Any], Path]) -> None:
    _, body, _ = run
    s7, s8 = body["scenarios"]["S7"], body["scenarios"]["S8"]
    assert s7["records_attempted"] >= 80
    assert s7["bytes_searched"] > 0
    assert s7["index_guesses"] > 0
    assert s8["tampering_attempts"] == 7
    assert s8["tampering_detected"] == sum(v == "detected" for v in s8["attempts"].values())


def test_no_identity_in_output_or_report(run: tuple[Any, dict[str, Any], Path],
                                         tmp_path: Path) -> None:
    result, _, report = run
    generate_population(out=tmp_path / "p", people=80, seed=3, today=START.date())
    people = read_members(tmp_path / "p", today=START.date())
    page = report.read_text(encoding="utf-8")
    assert "<svg" in page
    assert "S1" in page
    assert "http" not in page.replace("http://www.w3", "")
    printed = result.stdout + result.stderr
    for person in people:
        for secret in (person.nir, person.birth_date.isoformat(), person.member_number):
            assert secret not in printed
            assert secret not in page


@pytest.mark.parametrize(("args", "message"), [
    (["--scenario", "S1,S42"], "unknown scenario S42"),
    (["--days", "0"], "--days"),
    (["--warmup-days", "-1"], "--warmup-days"),
    (["--population", "abc"], "population"),
    (["--s5-accounts", "5000"], "--s5-accounts"),
    (["--s5-networks", "botnet"], "--s5-networks"),
])
def test_bad_options_are_refused_clearly(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["drill", "--json", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert result.stdout.strip() == "" or "{" not in result.stdout
