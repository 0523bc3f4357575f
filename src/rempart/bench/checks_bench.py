"""`rempart bench checks`: coverage checks per second over real HTTP, against the bare look-up.

1. An instance of N persons is built once and cached (`bench_instance`).
2. A corpus of check bodies is drawn from the population's own files (`corpus`).
3. A real server process (uvicorn or granian, loopback only) serves the app, built from
   the environment with the bench endpoints switched on (`server`).
4. Each phase sends its requests from a separate load-generator process (`load`), C
   keep-alive connections, for a bounded time and count; the server's CPU time is read
   from /proc around each phase.

Phases are pluggable: a `Phase` names a server variant (extra environment, so a
variant can switch the audit log off, for instance) and a `RequestBuilder` (so a phase
can carry authentication headers: `rempart.bench.dpop_requests`). Phases of one variant
share one server run; the default run is "checks" (the full path, demo identity) then
"bare" (the indexed look-up alone), and `ratio` = checks_per_s / bare_per_s comes from
that one run; with authentication, "checks_authenticated" follows on the same server.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import orjson

from rempart.bench.bench_instance import BenchInstance, ensure_bench_instance
from rempart.bench.corpus import CorpusMix, draw_check_bodies
from rempart.bench.errors import BenchError
from rempart.bench.load import LoadSpec
from rempart.bench.server import RunningServer, group_cpu_seconds, running_server
from rempart.web.identity import DEMO_ADDRESS_HEADER, DEMO_HEADER, DEMO_SESSION_HEADER

CHECKS_PATH = "/api/v1/checks"
BARE_PATH = "/bench/lookup"
CORPUS_SIZE = 20_000
LOAD_TIMEOUT_MARGIN_S = 60.0


class RequestBuilder(Protocol):
    def __call__(self, *, path: str, bodies: Sequence[bytes], server: RunningServer,
                 bench: BenchInstance) -> list[bytes]:
        """Whole HTTP requests for the phase, one per body (sent in turn, cycling)."""
        ...


def demo_header_requests(*, path: str, bodies: Sequence[bytes], server: RunningServer,
                         bench: BenchInstance) -> list[bytes]:
    """Requests identified by the demo headers, spread over the bench's organisations,
    each its own provider session from its own address block: the many practices of a
    real day, each checking at its own pace, which the exfiltration guard lets through
    (one session from one address at thousands of checks a second is a scraper)."""
    organisations = bench.organisation_ids
    host = f"{server.host}:{server.port}".encode()
    return [post_request(path, body, host=host, headers={
        DEMO_HEADER: str(organisations[i % len(organisations)]),
        DEMO_SESSION_HEADER: f"bench-{i}",
        DEMO_ADDRESS_HEADER: f"10.{i % 250}.{i // 250 % 250}.1"})
        for i, body in enumerate(bodies)]


def post_request(path: str, body: bytes, *, host: bytes, headers: dict[str, str]) -> bytes:
    extra = b"".join(f"{name}: {value}\r\n".encode() for name, value in headers.items())
    return (f"POST {path} HTTP/1.1\r\n".encode() + b"Host: " + host + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)


@dataclass(frozen=True)
class ServerVariant:
    name: str
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Phase:
    """`single_use`: each request is sent once (a DPoP proof is), never cycled; the load
    generator stops when they run out, and a phase that ran out is refused."""

    name: str
    path: str
    variant: str = "default"
    build: RequestBuilder = demo_header_requests
    single_use: bool = False


DEFAULT_VARIANTS = (ServerVariant("default"),)
DEFAULT_PHASES = (Phase("checks", CHECKS_PATH), Phase("bare", BARE_PATH))
# The audit log's cost (issue 5): the same checks against a server whose app records
# nothing (rempart.bench.unrecorded; honoured only with the bench endpoints on).
AUDIT_OFF_VARIANT = ServerVariant("audit_off", {"REMPART_BENCH_AUDIT": "off"})
AUDIT_OFF_PHASE = Phase("checks_audit_off", CHECKS_PATH, variant="audit_off")
# The authentication cost (issue 4): the same checks sent by API clients with DPoP-bound
# tokens and a fresh proof each, on the same server (rempart.bench.dpop_requests).
AUTHENTICATED_PHASE = "checks_authenticated"
# The exfiltration guard's cost (issue 7): the same checks against a server whose
# settings switch the guard off (honoured only with the bench endpoints on).
GUARD_OFF_VARIANT = ServerVariant("guard_off", {"REMPART_BENCH_GUARD": "off"})
GUARD_OFF_PHASE = Phase("checks_guard_off", CHECKS_PATH, variant="guard_off")


@dataclass(frozen=True)
class BenchOptions:
    people: int = 1_000_000
    workers: int = 1
    seconds: float = 10.0
    warmup: float = 2.0
    connections: int = 32
    server: str = "uvicorn"
    database_url: str | None = None
    data_dir: Path | None = None
    seed: int = 1
    variants: tuple[ServerVariant, ...] = DEFAULT_VARIANTS
    phases: tuple[Phase, ...] = DEFAULT_PHASES

    def with_audit_off(self) -> BenchOptions:
        """The same run plus the checks against a server that records nothing."""
        return replace(self, variants=(*self.variants, AUDIT_OFF_VARIANT),
                       phases=(*self.phases, AUDIT_OFF_PHASE))

    def with_guard_off(self) -> BenchOptions:
        """The same run plus the checks against a server without the exfiltration guard."""
        if GUARD_OFF_VARIANT in self.variants:
            return self
        return replace(self, variants=(*self.variants, GUARD_OFF_VARIANT),
                       phases=(*self.phases, GUARD_OFF_PHASE))


def run_checks_bench(options: BenchOptions,
                     on_stage: Callable[[str], None] | None = None) -> dict[str, Any]:
    stage = on_stage or (lambda _text: None)
    bench = ensure_bench_instance(people=options.people, seed=options.seed,
                                  database_url=options.database_url,
                                  data_dir=options.data_dir, on_stage=stage)
    stage("drawing the corpus")
    bodies = draw_check_bodies(bench.instance.population_dir, count=CORPUS_SIZE,
                               seed=options.seed, care_date=dt.date.today(),
                               mix=CorpusMix())
    load_before = os.getloadavg()
    results: dict[str, dict[str, Any]] = {}
    server_pids: list[int] = []
    for variant in options.variants:
        phases = [p for p in options.phases if p.variant == variant.name]
        if not phases:
            continue
        stage(f"starting {options.server} with {options.workers} worker(s) ({variant.name})")
        with running_server(env={**bench.server_env, **variant.env},
                            log_file=bench.directory / "server.log", server=options.server,
                            workers=options.workers) as server:
            server_pids.append(server.pid)
            for phase in phases:
                stage(f"phase {phase.name}: {options.warmup:g} s warm-up, "
                      f"{options.seconds:g} s measured")
                requests = phase.build(path=phase.path, bodies=bodies, server=server,
                                       bench=bench)
                results[phase.name] = _measure(server, requests, options,
                                               single_use=phase.single_use)
    summary = _summary(options, bench, results, load_before, os.getloadavg())
    summary["server_pids"] = server_pids  # each one's process group is gone by now
    return summary


def _measure(server: RunningServer, requests: list[bytes], options: BenchOptions, *,
             single_use: bool = False) -> dict[str, Any]:
    spec = LoadSpec(host=server.host, port=server.port, requests=requests,
                    connections=options.connections, seconds=options.seconds,
                    warmup=options.warmup)
    if single_use:
        spec = replace(spec, max_requests=len(requests))
    cpu_before = group_cpu_seconds(server.pid)
    done = subprocess.run(
        [sys.executable, "-m", "rempart.bench.load"], input=spec.to_json(),
        capture_output=True, timeout=options.warmup + options.seconds + LOAD_TIMEOUT_MARGIN_S,
        check=False)
    server_cpu = group_cpu_seconds(server.pid) - cpu_before
    if done.returncode != 0:
        raise BenchError(f"the load generator failed (status {done.returncode})")
    figures: dict[str, Any] = orjson.loads(done.stdout)
    if single_use and figures["answered_total"] >= len(requests):
        raise BenchError(f"the phase used all its {len(requests)} single-use requests "
                         "before its end: its rate would be understated")
    # Over the whole phase, warm-up included: the server idles while the client starts.
    total = figures["answered_total"]
    figures["server_cpu_us_per_request"] = round(server_cpu / total * 1e6, 1) if total else None
    return figures


def _authentication_cost(checks: dict[str, Any],
                         authenticated: dict[str, Any]) -> dict[str, Any]:
    """Authenticated against demo-identity checks of the same server run."""
    rate, plain = authenticated["per_s"], checks.get("per_s")
    cpu, plain_cpu = (authenticated.get("server_cpu_us_per_request"),
                      checks.get("server_cpu_us_per_request"))
    return {
        "checks_authenticated_per_s": rate,
        "checks_authenticated_p50_ms": authenticated.get("p50_ms"),
        "checks_authenticated_p99_ms": authenticated.get("p99_ms"),
        # 1.0: authentication is free; 0.5: it halves the checks per second.
        "auth_cost_ratio": round(rate / plain, 3) if plain else None,
        "auth_server_cpu_us_per_request": round(cpu - plain_cpu, 1)
        if cpu is not None and plain_cpu is not None else None,
    }


def _summary(options: BenchOptions, bench: BenchInstance, phases: dict[str, dict[str, Any]],
             load_before: tuple[float, float, float],
             load_after: tuple[float, float, float]) -> dict[str, Any]:
    checks = phases.get("checks", {})
    bare = phases.get("bare", {})
    checks_rate = checks.get("per_s")
    bare_rate = bare.get("per_s")
    comparisons: dict[str, Any] = {}
    authenticated = phases.get(AUTHENTICATED_PHASE, {})
    if authenticated.get("per_s"):  # beside the demo-identity checks of its own server
        comparisons.update(_authentication_cost(
            phases.get(GUARD_OFF_PHASE.name, checks), authenticated))
    unaudited = phases.get(AUDIT_OFF_PHASE.name, {}).get("per_s")
    if unaudited:
        comparisons["checks_audit_off_per_s"] = unaudited
        comparisons["audit_on_off_ratio"] = round(checks_rate / unaudited, 3) \
            if checks_rate else None
    unguarded = phases.get(GUARD_OFF_PHASE.name, {}).get("per_s")
    if unguarded:
        comparisons["checks_guard_off_per_s"] = unguarded
        comparisons["guard_on_off_ratio"] = round(checks_rate / unguarded, 3) \
            if checks_rate else None
    return {
        "checks_per_s": checks_rate,
        "p50_ms": checks.get("p50_ms"),
        "p99_ms": checks.get("p99_ms"),
        "bare_per_s": bare_rate,
        "bare_p50_ms": bare.get("p50_ms"),
        "bare_p99_ms": bare.get("p99_ms"),
        "ratio": round(checks_rate / bare_rate, 3) if checks_rate and bare_rate else None,
        "errors": sum(p.get("errors", 0) for p in phases.values()),
        "people": bench.instance.people,
        "backend": bench.backend,
        "server": options.server,
        "workers": options.workers,
        "connections": options.connections,
        "seconds": options.seconds,
        "warmup": options.warmup,
        "corpus": {"requests": CORPUS_SIZE, "typo": CorpusMix().typo,
                   "unknown": CorpusMix().unknown},
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in load_after],
        "cpus": os.cpu_count(),
        **comparisons,
        "phases": phases,
    }
