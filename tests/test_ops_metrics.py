"""/metrics: checks, claims, audit entries and latency counted, no personal data in any
label, route templates rather than paths, the allow-list, and several processes summed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from checks_support import NOW, AppClient, Population, build_population, make_app
from ops_support import personal_values, sample, with_settings
from rempart.alerts.store import AlertSource, AlertStore
from rempart.observability import metrics
from rempart.runtime import Runtime


@pytest.fixture
def population(runtime: Runtime) -> Population:
    return build_population(runtime)


@pytest.fixture
def client(runtime: Runtime, population: Population) -> Iterator[AppClient]:
    with AppClient(make_app(runtime, population)) as test_client:
        yield test_client


def test_checks_claims_and_audit_are_counted_without_personal_data(
        client: AppClient, population: Population) -> None:
    before = client.get("/metrics").text
    covered = client.post("/api/v1/checks", json=population.alice.payload("optical"))
    assert covered.status_code == 201
    for person in (population.stranger, population.bob):  # no match; ended contract
        assert client.post("/api/v1/checks", json=person.payload()).status_code == 201
    invalid = client.post("/api/v1/checks", json=population.alice.payload(nir="1" * 15))
    assert invalid.status_code == 422
    claim = client.post("/api/v1/claims", json={
        "check_reference": covered.json()["reference"], "category": "optical",
        "care_date": NOW.date().isoformat(), "billed_cents": 50_000,
        "base_tariff_cents": 1_000, "amo_rate_bp": 6000, "amc_cents": 15_000})
    assert claim.status_code == 201
    reference = claim.json()["reference"]
    assert client.get(f"/api/v1/claims/{reference}").status_code == 200
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("rempart_checks_total", outcome="covered") == 1
    assert delta("rempart_checks_total", outcome="no_match") == 1
    assert delta("rempart_checks_total", outcome="contract_inactive") == 1
    assert delta("rempart_claims_total", status="accepted", reason="none") == 1
    assert delta("rempart_audit_entries_total") >= 5  # three checks, a claim, a read
    latency = "rempart_http_request_duration_seconds_count"
    assert delta(latency, method="POST", route="/api/v1/checks", status="201") == 3
    assert delta(latency, method="POST", route="/api/v1/checks", status="422") == 1
    assert delta(latency, method="GET", route="/api/v1/claims/{reference}",
                 status="200") == 1
    assert reference not in after  # a path never becomes a label
    for value in personal_values(population):
        assert value not in after, value


def test_audit_entries_and_alerts_count_only_when_committed(runtime: Runtime) -> None:
    def counted() -> tuple[float, float]:
        alerts = metrics.ALERTS.labels("member_report", "high")._value.get()
        return metrics.AUDIT_ENTRIES._value.get(), alerts

    start = counted()
    with runtime.engine.connect() as conn:
        transaction = conn.begin()
        AlertStore.insert(conn, source=AlertSource.MEMBER_REPORT, severity="high",
                          created_at=NOW, reasons=["reported"])
        metrics.record_audit_entries(conn, 2)
        transaction.rollback()
    assert counted() == start
    with runtime.engine.begin() as conn:
        AlertStore.insert(conn, source=AlertSource.MEMBER_REPORT, severity="high",
                          created_at=NOW, reasons=["reported"])
        metrics.record_audit_entries(conn, 2)
        conn.execute(text("SELECT 1"))
    assert counted() == (start[0] + 2, start[1] + 1)


def test_guard_decisions_keep_labels_to_a_closed_vocabulary() -> None:
    step_up = metrics.GUARD_DECISIONS.labels("step_up")
    other = metrics.GUARD_DECISIONS.labels("other")
    before = step_up._value.get(), other._value.get()
    metrics.record_guard_decision("step_up")
    metrics.record_guard_decision("STEP_UP")
    metrics.record_guard_decision("1 85 05 75 111 042 / Zorglubova")  # never a label
    assert (step_up._value.get(), other._value.get()) == (before[0] + 2, before[1] + 1)


def test_metrics_allow_list(runtime: Runtime, population: Population) -> None:
    elsewhere = with_settings(runtime, metrics_allow=("10.0.0.0/8",))
    with AppClient(make_app(elsewhere, population)) as client:
        refused = client.get("/metrics")
    assert refused.status_code == 403
    assert "rempart_" not in refused.text
    loopback = with_settings(runtime, metrics_allow=("127.0.0.1/32", "::1"))
    with AppClient(make_app(loopback, population)) as client:
        assert client.get("/metrics").status_code == 200


_WORKER = """
from rempart.observability import metrics
metrics.record_checks(["covered"] * {count})
"""
_SCRAPE = """
from rempart.observability.metrics import exposition
print(exposition().decode())
"""


def test_workers_are_summed_in_multiprocess_mode(tmp_path: Path) -> None:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory),
           "PYTHONPATH": os.pathsep.join(sys.path)}
    for count in (3, 4):  # two worker processes, each counting its own checks
        subprocess.run([sys.executable, "-c", _WORKER.format(count=count)], env=env,
                       check=True, timeout=60)
    scrape = subprocess.run([sys.executable, "-c", _SCRAPE], env=env, check=True,
                            capture_output=True, text=True, timeout=60).stdout
    assert sample(scrape, "rempart_checks_total", outcome="covered") == 7


def test_middleware_bench_prints_its_figures() -> None:
    from typer.testing import CliRunner

    from rempart.cli.main import app

    result = CliRunner().invoke(app, ["bench", "middleware", "--json", "--requests", "200",
                                      "--rounds", "1"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["requests_per_round"] == 200
    assert figures["bare_us"] > 0
    assert figures["instrumented_us"] > 0
    assert abs(figures["cost_us"] - (figures["instrumented_us"] - figures["bare_us"])) < 0.02
