"""`rempart bench checks`: one JSON object with the figures (their values are not judged),
the phases measured in alternating slices on servers that all run at once and are gone
afterwards, and a bare endpoint that only exists on request."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest
import redis
from joserfc.jwk import ECKey
from sqlalchemy import func, select
from stdnum.fr import siret as siret_number

from checks_support import AppClient, Population, build_population, make_app
from guard_fixtures import REDIS_URL
from rempart.audit.models import AuditEntry
from rempart.audit.signing import SigningKey, TrustedKeys
from rempart.audit.verify import Verifier
from rempart.bench.api_clients import CREDENTIALS_FILE, ApiSoftware, _read, ensure_bench_clients
from rempart.bench.bench_instance import BENCH_ORGANISATIONS, ensure_bench_instance
from rempart.bench.checks_bench import (
    ROTATIONS,
    BenchOptions,
    demo_header_requests,
    run_checks_bench,
)
from rempart.bench.dpop_requests import (
    MAX_RATE,
    check_fresh_enough,
    client_address,
    practice_requests,
    proofs_needed,
    token_requests,
    with_authentication,
)
from rempart.bench.errors import BenchError
from rempart.bench.instance import instance_settings
from rempart.bench.load import LoadSpec, _Run
from rempart.bench.unrecorded import UnrecordedForBenchmark
from rempart.providers.models import Organisation
from rempart.runtime import Runtime
from rempart.storage.engine import make_engine
from rempart.web.asgi import recorder_for
from rempart.web.identity import DEMO_ADDRESS_HEADER, DEMO_HEADER, DEMO_SESSION_HEADER

KEYS = {"checks_per_s", "p50_ms", "p99_ms", "bare_per_s", "ratio", "people", "workers",
        "connections", "backend", "server", "phases", "server_pids", "checks_audit_off_per_s",
        "audit_on_off_ratio", "checks_guard_off_per_s", "guard_on_off_ratio",
        "load_average_before", "load_average_after", "rounds", "slice_seconds",
        "slice_warmup", "slices", "server_cpu_us_per_request", "idle_server_cpu_ms",
        "audit_on_off_pair_ratios", "audit_on_off_pair_median", "audit_on_off_pair_spread",
        "guard_on_off_pair_ratios", "guard_on_off_pair_median", "guard_on_off_pair_spread",
        "checks_bare_pair_ratios", "checks_bare_pair_median", "checks_bare_pair_spread"}
GUARD_REFUSALS = {"401", "429"}  # step-up and slow-down: the guard at work


def test_the_cli_prints_one_json_object_and_leaves_no_server(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rempart", "bench", "checks", "--people", "300", "--seconds",
         "1", "--warmup", "0.3", "--slice-warmup", "0.2", "--rounds", "2", "--workers", "1",
         "--connections", "4", "--audit-off", "--guard-off",
         "--data-dir", str(tmp_path), "--json"], capture_output=True, text=True, timeout=300,
        check=False)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert set(figures) >= KEYS
    assert figures["people"] == 300
    assert (figures["backend"], figures["server"]) == ("sqlite", "uvicorn")
    assert (figures["workers"], figures["connections"]) == (1, 4)
    names = ["checks", "bare", "checks_audit_off", "checks_guard_off"]
    assert list(figures["phases"]) == names
    assert figures["audit_on_off_ratio"] == pytest.approx(
        figures["checks_per_s"] / figures["checks_audit_off_per_s"], abs=0.001)
    assert figures["guard_on_off_ratio"] == pytest.approx(
        figures["checks_per_s"] / figures["checks_guard_off_per_s"], abs=0.001)
    # The audit-off and guard-off sides are servers of their own.
    assert len(set(figures["server_pids"])) == 3
    assert set(figures["idle_server_cpu_ms"]) == {"default", "audit_off", "guard_off"}
    assert set(figures["phases"]["checks_guard_off"]["statuses"]) == {"201"}
    checks, bare = figures["phases"]["checks"], figures["phases"]["bare"]
    assert bare["errors"] == 0
    # The guard is on in the checks phase: over this tiny population the sessions check
    # the same few hundred persons again and again, which it may slow down (429) or
    # answer with a request for a second factor (401).
    for guarded in (checks, figures["phases"]["checks_audit_off"]):
        assert set(guarded["statuses"]) <= {"201"} | GUARD_REFUSALS
        assert guarded["errors"] == sum(guarded["statuses"].get(s, 0) for s in GUARD_REFUSALS)
        assert guarded["statuses"]["201"] > 0
    assert set(bare["statuses"]) == {"200"}
    assert checks["requests"] > 0
    assert bare["requests"] > 0
    assert figures["checks_per_s"] == checks["per_s"] > 0
    assert figures["ratio"] == pytest.approx(figures["checks_per_s"] / figures["bare_per_s"],
                                             abs=0.001)
    assert 0 < checks["p50_ms"] <= figures["p99_ms"] == checks["p99_ms"]
    assert figures["server_cpu_us_per_request"] == {
        name: figures["phases"][name]["server_cpu_us_per_request"] for name in names}
    for pid in figures["server_pids"]:
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)  # neither the server nor any of its workers is left
    # The instance is cached for the next run; the figures hold no personal data.
    assert (tmp_path / "checks-sqlite-300" / "population" / "manifest.json").exists()
    assert "nir" not in done.stdout.lower()
    _assert_alternating_slices(figures, names)
    # Two servers appended audit entries in turn to one file: still one unbroken chain.
    # (The bench signs no checkpoint: any key will do to recompute the chain.)
    engine = make_engine(instance_settings(tmp_path / "checks-sqlite-300", None))
    try:
        report = Verifier(engine=engine,
                          trusted_keys=TrustedKeys([SigningKey.generate().verify_key])).verify()
        with engine.connect() as conn:
            sirets = list(conn.scalars(select(Organisation.siret)))
    finally:
        engine.dispose()
    assert report.ok, report.summary()
    assert report.entries_checked >= checks["requests"]
    # Bench practices make up one organisation per session, each with a SIRET of its own.
    assert len(sirets) == len(set(sirets)) == BENCH_ORGANISATIONS
    assert all(siret_number.is_valid(siret) for siret in sirets)


def _assert_alternating_slices(figures: dict[str, Any], names: list[str]) -> None:
    """Each pass loads every phase once, forwards then backwards (A B C D, D C B A, ...),
    and the figures of the phases and their pair ratios are those of the slices."""
    slices, rounds = figures["slices"], figures["rounds"]
    passes = 2 * rounds
    assert [s["phase"] for s in slices] == (names + names[::-1]) * rounds
    assert [s["pass"] for s in slices] == [i for i in range(passes) for _ in names]
    assert figures["slice_seconds"] == pytest.approx(figures["seconds"] / passes)
    for name in names:
        mine = [s for s in slices if s["phase"] == name]
        phase = figures["phases"][name]
        assert phase["slices"] == len(mine) == passes
        assert phase["requests"] == sum(s["requests"] for s in mine)
        assert phase["errors"] == sum(s["errors"] for s in mine)
        assert phase["seconds"] == pytest.approx(figures["seconds"])
        assert phase["per_s"] == pytest.approx(phase["requests"] / phase["seconds"], abs=0.1)
        # A pooled quantile lies between the slices' own (give or take their rounding).
        assert min(s["p99_ms"] for s in mine) - 0.01 <= phase["p99_ms"] \
            <= max(s["p99_ms"] for s in mine) + 0.01
        # Each slice goes on in the corpus where the phase's last load stopped.
        for before, after in itertools.pairwise(mine):
            assert after["first"] == before["first"] + before["sent"] > 0
    rate = {(s["phase"], s["pass"]): s["per_s"] for s in slices}
    for stem, numerator, denominator in (("audit_on_off", "checks", "checks_audit_off"),
                                         ("guard_on_off", "checks", "checks_guard_off"),
                                         ("checks_bare", "checks", "bare")):
        ratios = figures[f"{stem}_pair_ratios"]
        assert ratios == [pytest.approx(rate[numerator, i] / rate[denominator, i], abs=0.001)
                          for i in range(passes)]
        assert figures[f"{stem}_pair_median"] == pytest.approx(statistics.median(ratios),
                                                               abs=0.001)
        assert figures[f"{stem}_pair_spread"] == [min(ratios), max(ratios)]


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
                    connections=3, seconds=1.5, warmup=0.0, max_requests=10, first=4,
                    keep_latencies=True)
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


def test_the_authenticated_phase_runs_many_practices_clients_through_the_guard(
        tmp_path: Path) -> None:
    clients = 4_000  # each at a practice's pace, even at this test's few hundred checks/s
    options = with_authentication(BenchOptions(
        people=300, seconds=1, warmup=0.3, slice_warmup=0.2, connections=4,
        data_dir=tmp_path), clients=clients)
    figures = run_checks_bench(options)
    assert set(figures["phases"]) == {"checks", "bare", "checks_authenticated", "oauth_token"}
    # One server, guard on: the DPoP checks run beside the demo-identity checks they are
    # compared with, in alternating slices (each with proofs of its own).
    assert len(figures["server_pids"]) == 1
    authenticated = figures["phases"]["checks_authenticated"]
    assert authenticated["slices"] == 2 * figures["rounds"]
    assert len(figures["auth_cost_pair_ratios"]) == 2 * figures["rounds"]
    # Spread over the practices' clients, the guard lets every check through.
    assert set(authenticated["statuses"]) == {"201"}  # no refusal, no proof replayed
    assert authenticated["errors"] == 0
    assert figures["checks_authenticated_non_2xx"] == 0
    # Each client checked once before the phase was measured, every check answered.
    contact = figures["auth_first_contact"]
    assert contact["requests"] == clients
    assert contact["statuses"] == {"201": clients}
    assert figures["checks_authenticated_per_s"] == authenticated["per_s"] > 0
    assert figures["auth_cost_ratio"] == pytest.approx(
        figures["checks_authenticated_per_s"] / figures["checks_per_s"], abs=0.001)
    assert figures["auth_server_cpu_us_per_request"] == pytest.approx(
        authenticated["server_cpu_us_per_request"]
        - figures["phases"]["checks"]["server_cpu_us_per_request"], abs=0.2)
    # The token endpoint, in turn with the checks: every request answered with a token.
    tokens = figures["phases"]["oauth_token"]
    assert tokens["slices"] == 2 * figures["rounds"]
    assert set(tokens["statuses"]) == {"200"}
    assert figures["token_non_2xx"] == 0 == tokens["errors"]
    assert figures["tokens_per_s"] == tokens["per_s"] > 0
    assert figures["token_p99_ms"] == tokens["p99_ms"] >= figures["token_p50_ms"] > 0
    assert figures["token_server_cpu_us"] == tokens["server_cpu_us_per_request"] > 0
    directory = tmp_path / "checks-sqlite-300"
    engine = make_engine(instance_settings(directory, None))

    def count(*conditions: Any) -> int:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(AuditEntry)
                                   .where(*conditions)) or 0)

    def checks_by_clients() -> int:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count(func.distinct(AuditEntry.session_id)))
                                   .where(AuditEntry.session_id.like("api:rc_%"),
                                          AuditEntry.event.not_like("auth.%"))) or 0)

    try:
        # Registered once, through the service (each in the audit log); the checks'
        # tokens signed by the bench with the instance's key, one asked of the endpoint,
        # besides the token phase's (each recorded, warm-ups included).
        assert count(AuditEntry.event == "auth.api_client_registered") == clients
        assert count(AuditEntry.event == "auth.api_token_issued") >= 1 + tokens["requests"]
        assert count(AuditEntry.session_id.like("api:rc_%"),
                     AuditEntry.event.not_like("auth.%")) >= authenticated["requests"]
        assert checks_by_clients() > clients // 2  # many practices, not a handful
        kept = directory / CREDENTIALS_FILE
        assert kept.stat().st_mode & 0o777 == 0o600
        bench = ensure_bench_instance(people=300, seed=1, database_url=None,
                                      data_dir=tmp_path, on_stage=lambda _text: None)
        again = ensure_bench_clients(bench, count=clients)
        assert [c.client_id for c in again] == [c.client_id for c in _read(kept) or []]
        assert count(AuditEntry.event == "auth.api_client_registered") == clients
    finally:
        engine.dispose()
    assert "nir" not in json.dumps(figures).lower()


def test_each_practice_client_checks_a_new_patient_from_its_own_address() -> None:
    bodies = [f'{{"person": {n}}}'.encode() for n in range(30)]
    clients = [ApiSoftware(client_id=f"rc_{n}", client_secret="s",
                           key=ECKey.generate_key("P-256", private=True), organisation_id=n)
               for n in range(30)]
    server = types.SimpleNamespace(host="127.0.0.1", port=8000)
    seen: dict[bytes, tuple[set[bytes], set[bytes]]] = {}
    for first in (0, 60, 120):  # three slices: each goes on where the last one ended
        for request in practice_requests(
                "/api/v1/checks", bodies, server=server,  # type: ignore[arg-type]
                clients=clients, tokens=[f"token-{n}" for n in range(30)], first=first,
                count=60):
            head, body = request.split(b"\r\n\r\n")
            headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
            patients, address = seen.setdefault(headers[b"authorization"], (set(), set()))
            assert body not in patients
            patients.add(body)
            address.add(headers[b"x-forwarded-for"])
    assert len(seen) == 30
    assert all(len(address) == 1 for _, address in seen.values())
    assert len({next(iter(address)) for _, address in seen.values()}) == 30


def test_each_token_request_comes_from_the_next_client_with_a_fresh_proof() -> None:
    clients = [ApiSoftware(client_id=f"rc_{n}", client_secret=f"secret {n}",
                           key=ECKey.generate_key("P-256", private=True), organisation_id=n)
               for n in range(3)]
    server = types.SimpleNamespace(host="127.0.0.1", port=8000)
    requests = token_requests(server=server,  # type: ignore[arg-type]
                              clients=clients, first=2, count=4)
    proofs = set()
    for n, request in enumerate(requests, start=2):
        head, body = request.split(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        headers = dict(line.split(b": ", 1) for line in lines[1:])
        assert lines[0] == b"POST /oauth/token HTTP/1.1"
        assert headers[b"Content-Type"] == b"application/x-www-form-urlencoded"
        assert int(headers[b"Content-Length"]) == len(body)
        assert body == (f"grant_type=client_credentials&client_id=rc_{n % 3}"
                        f"&client_secret=secret+{n % 3}").encode()
        assert headers[b"x-forwarded-for"] == client_address(n % 3).encode()
        proofs.add(headers[b"dpop"])
    assert len(proofs) == 4  # each request its own proof (a jti is single-use)


def test_a_slice_longer_than_the_proofs_window_is_refused() -> None:
    check_fresh_enough(made_at=time.time(), seconds=12)  # well within 60 s
    with pytest.raises(BenchError, match="within 60 s"):
        check_fresh_enough(made_at=time.time(), seconds=52)
    assert proofs_needed(12) == 12 * MAX_RATE


def test_a_load_goes_on_from_its_first_request_and_cycles() -> None:
    spec = LoadSpec(host="127.0.0.1", port=8000, requests=[b"a", b"b", b"c"], first=2,
                    seconds=60.0, warmup=0.0)
    run = _Run(spec)
    assert [run.next_request() for _ in range(4)] == [b"c", b"a", b"b", b"c"]
    assert run.sent == 4


def test_the_scaled_out_shape_is_measured_beside_the_embedded_default(
        tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rempart", "bench", "checks", "--people", "300", "--seconds",
         "0.5", "--warmup", "0.2", "--slice-warmup", "0.2", "--rounds", "1", "--connections",
         "4", "--redis-url", REDIS_URL, "--compare-embedded", "--data-dir", str(tmp_path),
         "--json"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert list(figures["phases"]) == ["checks", "bare", "checks_embedded"]
    assert figures["redis"] is True
    assert len(set(figures["server_pids"])) == 2
    embedded = figures["phases"]["checks_embedded"]
    assert figures["checks_embedded_per_s"] == embedded["per_s"] > 0
    assert figures["embedded_ratio"] == pytest.approx(
        figures["checks_per_s"] / figures["checks_embedded_per_s"], abs=0.001)
    assert len(figures["embedded_pair_ratios"]) == 2
    # The guard's state went to Redis under the run's own prefix, and is gone.
    prefix = figures["redis_prefix"]
    assert prefix.startswith("rempart-bench-")
    assert figures["redis_keys_deleted"] > 0
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert list(client.scan_iter(match=f"*{prefix}*")) == []
    finally:
        client.close()


def test_the_embedded_default_is_compared_only_with_another_shape() -> None:
    with pytest.raises(BenchError, match="--database-url, --redis-url"):
        BenchOptions().with_embedded()
    options = BenchOptions(redis_url=REDIS_URL).with_embedded()
    assert [phase.name for phase in options.phases][-1] == "checks_embedded"


def test_bench_sessions_see_a_new_patient_on_each_pass_and_keep_their_practice() -> None:
    bodies = [f'{{"person": {n}}}'.encode() for n in range(50)]
    server = types.SimpleNamespace(host="127.0.0.1", port=8000)
    bench = types.SimpleNamespace(organisation_ids=[11, 12, 13])
    requests = demo_header_requests(path="/api/v1/checks", bodies=bodies, server=server,
                                    bench=bench, seconds=1.0)  # type: ignore[arg-type]
    assert len(requests) == 50 * ROTATIONS
    seen: dict[bytes, tuple[set[bytes], set[bytes]]] = {}
    for request in requests:
        head, body = request.split(b"\r\n\r\n")
        headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
        session = headers[DEMO_SESSION_HEADER.encode()]
        patients, practice = seen.setdefault(session, (set(), set()))
        assert body not in patients
        patients.add(body)
        practice.add(headers[DEMO_HEADER.encode()] + headers[DEMO_ADDRESS_HEADER.encode()])
    assert len(seen) == 50
    assert all(len(practice) == 1 for _, practice in seen.values())
