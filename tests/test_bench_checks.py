"""`rempart bench checks`: one JSON object with the figures (their values are not judged),
a real server that is gone afterwards, and a bare endpoint that only exists on request."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from checks_support import AppClient, Population, build_population, make_app
from rempart.audit.models import AuditEntry
from rempart.bench.dpop_requests import CLIENTS, MAX_RATE, check_fresh_enough, proofs_needed
from rempart.bench.errors import BenchError
from rempart.bench.instance import instance_settings
from rempart.bench.load import LoadSpec
from rempart.bench.unrecorded import UnrecordedForBenchmark
from rempart.runtime import Runtime
from rempart.storage.engine import make_engine
from rempart.web.asgi import recorder_for

KEYS = {"checks_per_s", "p50_ms", "p99_ms", "bare_per_s", "ratio", "people", "workers",
        "connections", "backend", "server", "phases", "server_pids", "checks_audit_off_per_s",
        "audit_on_off_ratio", "checks_guard_off_per_s", "guard_on_off_ratio",
        "load_average_before", "load_average_after"}


def test_the_cli_prints_one_json_object_and_leaves_no_server(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rempart", "bench", "checks", "--people", "300", "--seconds",
         "1", "--warmup", "0.5", "--workers", "1", "--connections", "4", "--audit-off",
         "--guard-off",
         "--data-dir", str(tmp_path), "--json"], capture_output=True, text=True, timeout=300,
        check=False)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert set(figures) >= KEYS
    assert figures["people"] == 300
    assert (figures["backend"], figures["server"]) == ("sqlite", "uvicorn")
    assert (figures["workers"], figures["connections"]) == (1, 4)
    assert set(figures["phases"]) == {"checks", "bare", "checks_audit_off", "checks_guard_off"}
    assert figures["audit_on_off_ratio"] == pytest.approx(
        figures["checks_per_s"] / figures["checks_audit_off_per_s"], abs=0.001)
    assert figures["guard_on_off_ratio"] == pytest.approx(
        figures["checks_per_s"] / figures["checks_guard_off_per_s"], abs=0.001)
    # The audit-off and guard-off sides are servers of their own.
    assert len(figures["server_pids"]) == 3
    assert set(figures["phases"]["checks_guard_off"]["statuses"]) == {"201"}
    checks, bare = figures["phases"]["checks"], figures["phases"]["bare"]
    assert bare["errors"] == 0
    # The guard is on in the checks phase: this tiny instance has a few organisations,
    # so a second of load can pass an organisation's hourly ceiling (slowed down: 429).
    assert set(checks["statuses"]) <= {"201", "429"}
    assert checks["errors"] == checks["statuses"].get("429", 0)
    assert checks["statuses"]["201"] > 0
    assert set(bare["statuses"]) == {"200"}
    assert checks["requests"] > 0
    assert bare["requests"] > 0
    assert figures["checks_per_s"] == checks["per_s"] > 0
    assert figures["ratio"] == pytest.approx(figures["checks_per_s"] / figures["bare_per_s"],
                                             abs=0.001)
    assert 0 < checks["p50_ms"] <= figures["p99_ms"] == checks["p99_ms"]
    for pid in figures["server_pids"]:
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)  # neither the server nor any of its workers is left
    # The instance is cached for the next run; the figures hold no personal data.
    assert (tmp_path / "checks-sqlite-300" / "population" / "manifest.json").exists()
    assert "nir" not in done.stdout.lower()


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def population(runtime: Runtime) -> Population:
    return build_population(runtime)


def test_the_bare_endpoint_exists_only_when_the_settings_say_so(
        runtime: Runtime, population: Population) -> None:
    body = population.alice.payload()
    with AppClient(make_app(runtime, population)) as client:
        assert client.post("/bench/lookup", json=body).status_code == 404
        assert "/bench/lookup" not in client.get("/api/v1/openapi.json").text
    bench = dataclasses.replace(runtime, settings=dataclasses.replace(
        runtime.settings, bench_endpoints=True))
    with AppClient(make_app(bench, population)) as client:
        assert client.post("/bench/lookup", json=body).json() == {"rows": 1}
        stranger = population.stranger.payload()
        assert client.post("/bench/lookup", json=stranger).json() == {"rows": 0}
        assert "/bench/lookup" not in client.get("/api/v1/openapi.json").text


def test_a_load_spec_survives_its_trip_through_json() -> None:
    spec = LoadSpec(host="127.0.0.1", port=8000, requests=[b"POST / HTTP/1.1\r\n\r\n\xe9"],
                    connections=3, seconds=1.5, warmup=0.0, max_requests=10)
    assert LoadSpec.from_json(spec.to_json()) == spec


def test_the_audit_stays_on_unless_a_benchmark_asks_with_its_endpoints_on(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMPART_BENCH_AUDIT", "off")
    assert recorder_for(runtime) is None  # a served instance always records
    bench = dataclasses.replace(runtime, settings=dataclasses.replace(
        runtime.settings, bench_endpoints=True))
    assert isinstance(recorder_for(bench), UnrecordedForBenchmark)
    monkeypatch.delenv("REMPART_BENCH_AUDIT")
    assert recorder_for(bench) is None


def test_the_authenticated_phase_runs_dpop_clients_on_the_same_server(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rempart", "bench", "checks", "--people", "300", "--seconds",
         "1", "--warmup", "0.5", "--workers", "1", "--connections", "4", "--auth",
         "--data-dir", str(tmp_path), "--json"], capture_output=True, text=True, timeout=300,
        check=False)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert set(figures["phases"]) == {"checks", "bare", "checks_guard_off",
                                      "checks_authenticated"}
    # Two servers: the default one, and the one without the guard where the DPoP checks
    # run beside the demo-identity checks they are compared with.
    assert len(figures["server_pids"]) == 2
    authenticated = figures["phases"]["checks_authenticated"]
    assert authenticated["errors"] == 0
    assert set(authenticated["statuses"]) == {"201"}  # no proof refused, none replayed
    assert figures["checks_authenticated_per_s"] == authenticated["per_s"] > 0
    assert figures["auth_cost_ratio"] == pytest.approx(
        figures["checks_authenticated_per_s"] / figures["checks_guard_off_per_s"], abs=0.001)
    assert figures["auth_server_cpu_us_per_request"] == pytest.approx(
        authenticated["server_cpu_us_per_request"]
        - figures["phases"]["checks_guard_off"]["server_cpu_us_per_request"], abs=0.2)
    # The checks were made by the registered clients: their tokens came from /oauth/token.
    engine = make_engine(instance_settings(tmp_path / "checks-sqlite-300", None))
    try:
        with engine.connect() as conn:
            issued = conn.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.event == "auth.api_token_issued"))
            by_clients = conn.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.session_id.like("api:rc_%"), AuditEntry.event.not_like("auth.%")))
    finally:
        engine.dispose()
    assert issued == CLIENTS
    assert by_clients is not None
    assert by_clients >= authenticated["requests"]
    assert "nir" not in done.stdout.lower()


def test_a_phase_longer_than_the_proofs_window_is_refused() -> None:
    check_fresh_enough(made_at=time.time(), warmup=2, seconds=10)  # well within 60 s
    with pytest.raises(BenchError, match="within 60 s"):
        check_fresh_enough(made_at=time.time(), warmup=2, seconds=50)
    assert proofs_needed(warmup=2, seconds=10) == 12 * MAX_RATE
