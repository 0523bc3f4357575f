"""`rempart bench checks`: coverage checks per second over real HTTP, against the bare look-up.

1. An instance of N persons is built once and cached (`bench_instance`).
2. A corpus of check bodies is drawn from the population's own files (`corpus`).
3. Real server processes (uvicorn or granian, loopback only) serve the app, built from
   the environment with the bench endpoints switched on (`server`): one per variant
   the run needs, all started first, all on the same instance.
4. The phases are measured in alternating slices (`rotation`): each slice sends its
   requests from a separate load-generator process (`load`), C keep-alive connections,
   for a bounded time, to one server while the others idle; the servers' CPU time is
   read from /proc around each slice.

Phases are pluggable: a `Phase` names a server variant (extra environment, so a
variant can switch the audit log off, for instance) and a `RequestBuilder` (so a phase
can carry authentication headers: `rempart.bench.dpop_requests`). The default run is
"checks" (the full path, demo identity) and "bare" (the indexed look-up alone) on one
server, and `ratio` = checks_per_s / bare_per_s; the audit-off and guard-off variants
add a server each, and their ratios ("on / off") come from the same alternating slices.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from rempart.bench.bench_instance import BENCH_ORGANISATIONS, BenchInstance, ensure_bench_instance
from rempart.bench.corpus import CorpusMix, draw_check_bodies
from rempart.bench.errors import BenchError
from rempart.bench.rotation import Rotation, SlicePlan, pair_summary, run_slices
from rempart.bench.scaled_out import embedded_instance, shared_redis
from rempart.bench.server import RunningServer, running_server
from rempart.web.identity import DEMO_ADDRESS_HEADER, DEMO_HEADER, DEMO_SESSION_HEADER

CHECKS_PATH = "/api/v1/checks"
BARE_PATH = "/bench/lookup"
# Each body its own session, each session its own organisation (bench practices).
CORPUS_SIZE = BENCH_ORGANISATIONS
# Passes over the corpus before a session sees a patient again (more than a guarded
# phase sends at 5,000 checks/s), and the shift between passes (prime to CORPUS_SIZE).
ROTATIONS = 6
ROTATION_STRIDE = 7_919


class RequestBuilder(Protocol):
    def __call__(self, *, path: str, bodies: Sequence[bytes], server: RunningServer,
                 bench: BenchInstance, seconds: float) -> list[bytes]:
        """Whole HTTP requests for a load of `seconds` (warm-up included) on `server`,
        sent in turn (cycling, unless the phase is single-use)."""
        ...


def demo_header_requests(*, path: str, bodies: Sequence[bytes], server: RunningServer,
                         bench: BenchInstance, seconds: float) -> list[bytes]:
    """Requests identified by the demo headers, spread over the bench's organisations,
    each its own provider session from its own address block: the many practices of a
    real day, each checking at its own pace, which the exfiltration guard lets through
    (one session from one address at thousands of checks a second is a scraper).

    A session checks another patient on each pass over the corpus (ROTATIONS passes
    before any repeats): the same session sending the same card every few seconds,
    mistyped cards included, is what a prober does, not a counter."""
    organisations = bench.organisation_ids
    host = f"{server.host}:{server.port}".encode()
    return [post_request(path, body, host=host, headers=headers)
            for body, headers in (demo_check(i, bodies, organisations)
                                  for i in range(len(bodies) * ROTATIONS))]


def demo_check(i: int, bodies: Sequence[bytes],
               organisations: Sequence[int]) -> tuple[bytes, dict[str, str]]:
    """The `i`-th demo-identity check of the bench's rotation: its body and headers."""
    count = len(bodies)
    n = i % count
    return bodies[(i + i // count * ROTATION_STRIDE) % count], {
        DEMO_HEADER: str(organisations[n % len(organisations)]),
        DEMO_SESSION_HEADER: f"bench-{n}",
        DEMO_ADDRESS_HEADER: f"10.{n % 250}.{n // 250 % 250}.1"}


def post_request(path: str, body: bytes, *, host: bytes, headers: dict[str, str],
                 content_type: str = "application/json") -> bytes:
    extra = b"".join(f"{name}: {value}\r\n".encode() for name, value in headers.items())
    return (f"POST {path} HTTP/1.1\r\n".encode() + b"Host: " + host + b"\r\n"
            + f"Content-Type: {content_type}\r\nContent-Length: ".encode()
            + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)


@dataclass(frozen=True)
class ServerVariant:
    """`embedded`: the embedded default (SQLite in the bench directory, one worker,
    shared state in memory) over the same population, whatever the run's database,
    Redis and worker count: the scaled-out shape's yardstick (`rempart.bench.scaled_out`).
    """

    name: str
    env: dict[str, str] = field(default_factory=dict)
    embedded: bool = False


@dataclass(frozen=True)
class Phase:
    """`single_use`: each request is sent once (a DPoP proof is), never cycled: they are
    built for each slice, the load generator stops when they run out, and a slice that
    ran out is refused."""

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
# The authentication cost (issue 4): the same checks sent by the practices' API clients
# with DPoP-bound tokens and a fresh proof each, on the default server, guard on, beside
# its demo-identity checks (rempart.bench.dpop_requests).
AUTHENTICATED_PHASE = "checks_authenticated"
# The token endpoint under load (issue 4): the same clients asking `/oauth/token` for
# tokens (client credentials, a fresh proof each), on the default server, in turn with
# the checks (rempart.bench.dpop_requests).
TOKEN_PHASE = "oauth_token"  # noqa: S105 (a phase name)
# The exfiltration guard's cost (issue 7): the same checks against a server whose
# settings switch the guard off (honoured only with the bench endpoints on).
GUARD_OFF_VARIANT = ServerVariant("guard_off", {"REMPART_BENCH_GUARD": "off"})
GUARD_OFF_PHASE = Phase("checks_guard_off", CHECKS_PATH, variant="guard_off")
# The scaled-out shape against the embedded default (issue 8), in the same run.
EMBEDDED_VARIANT = ServerVariant("embedded", embedded=True)
EMBEDDED_PHASE = Phase("checks_embedded", CHECKS_PATH, variant="embedded")
# (phase, its rate's key, the ratio's key): checks_per_s over that phase's rate.
AGAINST_CHECKS = (
    (AUDIT_OFF_PHASE.name, "checks_audit_off_per_s", "audit_on_off_ratio"),
    (GUARD_OFF_PHASE.name, "checks_guard_off_per_s", "guard_on_off_ratio"),
    (EMBEDDED_PHASE.name, "checks_embedded_per_s", "embedded_ratio"),
)
# (key stem, numerator phase, denominator phase): rates compared pass by pass.
COMPARISONS = (
    ("checks_bare", "checks", "bare"),
    ("audit_on_off", "checks", AUDIT_OFF_PHASE.name),
    ("guard_on_off", "checks", GUARD_OFF_PHASE.name),
    ("auth_cost", AUTHENTICATED_PHASE, "checks"),
    ("embedded", "checks", EMBEDDED_PHASE.name),
)


@dataclass(frozen=True)
class BenchOptions:
    people: int = 1_000_000
    workers: int = 1
    seconds: float = 10.0  # measured per phase, over all its slices
    warmup: float = 2.0  # unmeasured load per phase before the first slice
    connections: int = 32
    rounds: int = 5  # each a forward and a backward pass over the phases
    slice_warmup: float = 0.5  # unmeasured, at the start of every slice
    server: str = "uvicorn"
    database_url: str | None = None
    database_name: str | None = None  # on the server of database_url
    redis_url: str | None = None
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

    def with_embedded(self) -> BenchOptions:
        """The same run plus the checks against the embedded default."""
        if self.database_url is None and self.redis_url is None:
            raise BenchError("the embedded default is compared with a run on PostgreSQL "
                             "or Redis (--database-url, --redis-url)")
        return replace(self, variants=(*self.variants, EMBEDDED_VARIANT),
                       phases=(*self.phases, EMBEDDED_PHASE))

    @property
    def plan(self) -> SlicePlan:
        return SlicePlan(rounds=self.rounds, seconds=self.seconds / (2 * self.rounds),
                         warmup=self.slice_warmup, priming=self.warmup,
                         connections=self.connections)


def run_checks_bench(options: BenchOptions,
                     on_stage: Callable[[str], None] | None = None) -> dict[str, Any]:
    stage = on_stage or (lambda _text: None)
    bench = ensure_bench_instance(people=options.people, seed=options.seed,
                                  database_url=options.database_url,
                                  database_name=options.database_name,
                                  data_dir=options.data_dir, on_stage=stage)
    used = [v for v in options.variants if any(p.variant == v.name for p in options.phases)]
    instances = {variant.name: embedded_instance(like=bench, seed=options.seed,
                                                 data_dir=options.data_dir, on_stage=stage)
                 if variant.embedded else bench for variant in used}
    stage("drawing the corpus")
    bodies = draw_check_bodies(bench.instance.population_dir, count=CORPUS_SIZE,
                               seed=options.seed, care_date=dt.date.today(),
                               mix=CorpusMix())
    load_before = os.getloadavg()
    with shared_redis(options.redis_url) as redis, ExitStack() as servers_running:
        # Every server first, each on a port of its own; they are loaded one at a time.
        servers: dict[str, RunningServer] = {}
        for variant in used:
            workers = 1 if variant.embedded else options.workers
            stage(f"starting {options.server} with {workers} worker(s) ({variant.name})")
            instance = instances[variant.name]
            servers[variant.name] = servers_running.enter_context(running_server(
                env={**instance.server_env, **({} if variant.embedded else redis.env),
                     **variant.env},
                log_file=instance.directory / "server.log", server=options.server,
                workers=workers))
        cycled: dict[str, list[bytes]] = {}

        def requests_for(phase: Phase, seconds: float) -> list[bytes]:
            if phase.single_use or phase.name not in cycled:
                built = phase.build(path=phase.path, bodies=bodies,
                                    server=servers[phase.variant],
                                    bench=instances[phase.variant], seconds=seconds)
                if phase.single_use:
                    return built
                cycled[phase.name] = built
            return cycled[phase.name]

        rotation = run_slices(phases=options.phases, servers=servers,
                              requests_for=requests_for, plan=options.plan, stage=stage)
    summary = _summary(options, bench, rotation, load_before, os.getloadavg())
    for phase in options.phases:  # a phase's own figures (its builder's), if any
        extra = getattr(phase.build, "figures", None)
        if callable(extra):
            summary.update(extra())
    summary["server_pids"] = [server.pid for server in servers.values()]  # all gone by now
    summary["redis_prefix"] = redis.prefix
    summary["redis_keys_deleted"] = redis.keys_deleted
    return summary


def _authentication_cost(checks: dict[str, Any],
                         authenticated: dict[str, Any]) -> dict[str, Any]:
    """Authenticated against demo-identity checks of the same server, in the same run."""
    rate, plain = authenticated["per_s"], checks.get("per_s")
    cpu, plain_cpu = (authenticated.get("server_cpu_us_per_request"),
                      checks.get("server_cpu_us_per_request"))
    return {
        "checks_authenticated_per_s": rate,
        "checks_authenticated_p50_ms": authenticated.get("p50_ms"),
        "checks_authenticated_p99_ms": authenticated.get("p99_ms"),
        # Answers other than 2xx (guard refusals, refused proofs): 0 when the phase
        # measures authentication and not refusals.
        "checks_authenticated_non_2xx": _non_2xx(authenticated),
        # 1.0: authentication is free; 0.5: it halves the checks per second.
        "auth_cost_ratio": round(rate / plain, 3) if plain else None,
        "auth_server_cpu_us_per_request": round(cpu - plain_cpu, 1)
        if cpu is not None and plain_cpu is not None else None,
    }


def _token_endpoint(tokens: dict[str, Any]) -> dict[str, Any]:
    """The token endpoint's own figures: a token a request, so rate and CPU are per token."""
    return {
        "tokens_per_s": tokens["per_s"],
        "token_p50_ms": tokens.get("p50_ms"),
        "token_p99_ms": tokens.get("p99_ms"),
        "token_non_2xx": _non_2xx(tokens),  # refused credentials or proofs: 0 expected
        "token_server_cpu_us": tokens.get("server_cpu_us_per_request"),
    }


def _non_2xx(figures: dict[str, Any]) -> int:
    return sum(count for status, count in figures.get("statuses", {}).items()
               if not status.startswith("2"))


def _summary(options: BenchOptions, bench: BenchInstance, rotation: Rotation,
             load_before: tuple[float, float, float],
             load_after: tuple[float, float, float]) -> dict[str, Any]:
    phases = {phase.name: rotation.phase_figures(phase.name) for phase in options.phases}
    checks = phases.get("checks", {})
    bare = phases.get("bare", {})
    checks_rate = checks.get("per_s")
    bare_rate = bare.get("per_s")
    comparisons: dict[str, Any] = {}
    authenticated = phases.get(AUTHENTICATED_PHASE, {})
    if authenticated.get("per_s"):  # beside the demo-identity checks of its own server
        comparisons.update(_authentication_cost(checks, authenticated))
    if phases.get(TOKEN_PHASE, {}).get("per_s"):
        comparisons.update(_token_endpoint(phases[TOKEN_PHASE]))
    for phase, rate_key, ratio_key in AGAINST_CHECKS:
        rate = phases.get(phase, {}).get("per_s")
        if rate:
            comparisons[rate_key] = rate
            comparisons[ratio_key] = round(checks_rate / rate, 3) if checks_rate else None
    for stem, numerator, denominator in COMPARISONS:
        comparisons.update(pair_summary(stem, rotation.pair_ratios(numerator, denominator)))
    plan = options.plan
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
        "redis": options.redis_url is not None,
        "server": options.server,
        "workers": options.workers,
        "connections": options.connections,
        "seconds": options.seconds,
        "warmup": options.warmup,
        "rounds": plan.rounds,
        "slice_seconds": round(plan.seconds, 3),
        "slice_warmup": plan.warmup,
        "corpus": {"requests": CORPUS_SIZE, "typo": CorpusMix().typo,
                   "unknown": CorpusMix().unknown},
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in load_after],
        "cpus": os.cpu_count(),
        **comparisons,
        "server_cpu_us_per_request": {name: figures.get("server_cpu_us_per_request")
                                      for name, figures in phases.items()},
        "idle_server_cpu_ms": rotation.idle_cpu_ms,
        "phases": phases,
        "slices": [piece.summary() for piece in rotation.slices],
    }
