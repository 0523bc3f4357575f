"""`rempart breach scope` then `rempart breach report` on a real instance: counts on the
terminal, the persons' names only in the letters (opened through the vault, each opening
audited), and bad input refused with nothing written."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from checks_support import AMC_A, NOW, Population, build_population
from rempart.audit import AuditLog
from rempart.audit.recorder import AuditDisclosureRecorder
from rempart.cli.main import app
from rempart.coverage.query import CheckRequest
from rempart.coverage.service import CheckService
from rempart.runtime import Runtime

SINCE = "2026-03-01T00:00:00+00:00"
UNTIL = "2026-03-03T00:00:00Z"
DETECTED = "2026-03-02T12:00:00+01:00"


@pytest.fixture
def population(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Population:
    monkeypatch.setenv("REMPART_DATABASE_URL", runtime.settings.database_url)
    population = build_population(runtime)
    audit = AuditLog(engine=runtime.engine, clock=runtime.clock)
    service = CheckService(engine=runtime.engine, vault=runtime.vault, clock=runtime.clock,
                           recorder=AuditDisclosureRecorder(audit=audit))
    for which, person in ((0, population.alice), (0, population.leo), (1, population.carol)):
        body = person.payload()
        service.check(requester=dataclasses.replace(population.identity(which),
                                                    client_address="203.0.113.9"),
                      request=CheckRequest(
                          nir=body["nir"], birth_date=dt.date.fromisoformat(body["birth_date"]),
                          birth_rank=body["birth_rank"], amc_number=body["amc_number"],
                          member_number=body["member_number"], category="pharmacy",
                          care_date=NOW.date()))
    return population


def run(runtime: Runtime, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["breach", *args, "--data-dir",
                                      str(runtime.settings.data_dir)])
    return result.exit_code, " ".join(result.output.split())


def events(runtime: Runtime, event: str) -> list[tuple[int | None, str]]:
    with runtime.engine.connect() as conn:
        return [(r[0], r[1]) for r in conn.execute(text(
            "SELECT subject_id, fields FROM audit_entries WHERE event = :e ORDER BY position"),
            {"e": event}).all()]


def secrets_of(population: Population) -> list[str]:
    return [s for p in (population.alice, population.leo, population.carol) for s in p.secrets()]


def test_scope_then_report_from_a_real_instance(runtime: Runtime, population: Population,
                                                tmp_path: Path) -> None:
    code, output = run(runtime, "scope", "--account", "100", "--since", SINCE, "--until", UNTIL,
                       "--detected-at", DETECTED, "--out", str(tmp_path / "scope"))
    assert code == 0, output
    assert "2 persons, 2 disclosures through provider accounts 100" in output
    assert f"insurer {AMC_A}: 2 persons" in output
    assert "field coverage: 2 persons" in output
    assert events(runtime, "breach.scope_exported") == [(None, "")]

    code, output = run(runtime, "report", "--scope", str(tmp_path / "scope" / "scope.csv"),
                       "--out", str(tmp_path / "report"), "--dpo-name", "DPO",
                       "--dpo-contact", "dpo@example.test")
    assert code == 0, output
    assert "2 persons of 1 insurers" in output
    letter = (tmp_path / "report" / "letters" / AMC_A / "fr" / "letters-0001.html").read_text(
        encoding="utf-8")
    assert "Zorglubova" in letter
    assert population.alice.member_number in letter
    assert population.carol.member_number not in letter  # account 101's check
    for secret in secrets_of(population):
        assert secret not in output
    viewed = events(runtime, "person.viewed")
    assert sorted(viewed) == sorted([
        (population.alice.beneficiary_id, "first_name,last_name,member_number"),
        (population.leo.beneficiary_id, "first_name,last_name,member_number")])


@pytest.mark.parametrize(("args", "message"), [
    (["--since", SINCE], "selector: names no account, session or address"),
    (["--account", "100"], "--since: is required"),
    (["--account", "100", "--since", UNTIL, "--until", SINCE], "window: until must be later"),
    (["--address", "203.0.113.0/40", "--since", SINCE], "selector.addresses[0]: is not a CIDR"),
    (["--session", "no spaces allowed", "--since", SINCE], "selector.sessions[0]"),
    (["--account", "100", "--since", "2026-03-01T00:00:00"], "must carry a UTC offset"),
    (["--account", "100", "--since", "yesterday"], "is not an ISO 8601"),
    (["--account", "100", "--since", SINCE, "--detected-at", "2099-01-01T00:00:00Z"],
     "later than now"),
    (["--account", "100", "--since", SINCE], "no alert was raised"),
])
def test_bad_input_writes_nothing(runtime: Runtime, population: Population, tmp_path: Path,
                                  args: list[str], message: str) -> None:
    out = tmp_path / "scope"
    code, output = run(runtime, "scope", *args, "--out", str(out))
    assert code == 2, output
    assert message in output
    assert not out.exists()
    assert events(runtime, "breach.scope_exported") == []


def test_an_occupied_output_is_refused_before_reading(runtime: Runtime, population: Population,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "scope"
    out.mkdir()
    (out / "scope.json").write_text("keep me")
    code, output = run(runtime, "scope", "--account", "100", "--since", SINCE,
                       "--detected-at", DETECTED, "--out", str(out))
    assert code == 2
    assert "already exists" in output
    assert (out / "scope.json").read_text() == "keep me"
    assert events(runtime, "breach.scope_exported") == []
