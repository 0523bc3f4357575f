"""Alternating slices: every phase of a benchmark run measured in short slices, in turn.

On a shared machine the load drifts by several units within a minute, so two phases
measured one after the other (a server with the audit log, then one without it)
compare two different machines. Here every server a run needs is already running, on
the same instance, and they are loaded one at a time: a round is a pass over the phases
then the same pass backwards (A B C, C B A), so that a steady drift weighs on every
phase alike over a round, and two phases are compared within each pass
(`pair_ratios`).

Each phase has a load generator of its own for the whole rotation (`LoadProcess`), so
that a slice starts at once. Each slice begins with a short unmeasured warm-up (its
server idled while the others were loaded) and ends with a settling wait: the loaded
server finishes what its last answers started (the journal's WAL checkpoint) before
another server is loaded. The CPU time each server spends while another one is loaded
is summed (`idle_cpu_ms`): it shows whether an idle server worked in the background.
"""

from __future__ import annotations

import select
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

import orjson

from rempart.bench.errors import BenchError
from rempart.bench.load import LoadSpec, latency_quantiles
from rempart.bench.server import RunningServer, groups_cpu_seconds

LOAD_TIMEOUT_MARGIN_S = 60.0
SETTLE_POLL_S = 0.2  # a server is settled when a poll this long sees no CPU tick
SETTLE_LIMIT_S = 3.0

T = TypeVar("T")


class SlicedPhase(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def variant(self) -> str: ...
    @property
    def single_use(self) -> bool: ...


P = TypeVar("P", bound=SlicedPhase)


@dataclass(frozen=True)
class SlicePlan:
    rounds: int  # each a forward and a backward pass over the phases
    seconds: float  # measured, per slice
    warmup: float  # unmeasured, at the start of each slice
    priming: float  # unmeasured, once per phase before the first pass
    connections: int

    def passes(self, phases: Sequence[T]) -> list[list[T]]:
        forward = list(phases)
        return [forward if index % 2 == 0 else forward[::-1]
                for index in range(2 * self.rounds)]


@dataclass(frozen=True)
class Slice:
    phase: str
    pass_index: int
    figures: dict[str, Any]  # the load generator's, with latencies_us and server_cpu_s

    def summary(self) -> dict[str, Any]:
        figures = self.figures
        answered = figures["answered_total"]
        return {"phase": self.phase, "pass": self.pass_index, "per_s": figures["per_s"],
                "p50_ms": figures["p50_ms"], "p99_ms": figures["p99_ms"],
                "requests": figures["requests"], "errors": figures["errors"],
                "first": figures["first"], "sent": figures["sent"],
                "server_cpu_us_per_request":
                    round(figures["server_cpu_s"] / answered * 1e6, 1) if answered else None}


@dataclass(frozen=True)
class Rotation:
    slices: list[Slice]
    idle_cpu_ms: dict[str, float]  # by server variant: CPU spent while another was loaded

    def phase_figures(self, phase: str) -> dict[str, Any]:
        """The phase's slices pooled: rate over all its measured seconds, percentiles
        over all its answers, CPU per answer (warm-ups and settling included)."""
        mine = [s.figures for s in self.slices if s.phase == phase]
        seconds = sum(f["seconds"] for f in mine)
        requests = sum(f["requests"] for f in mine)
        answered = sum(f["answered_total"] for f in mine)
        statuses: Counter[str] = Counter()
        for figures in mine:
            statuses.update(figures["statuses"])
        latencies = sorted(us for f in mine for us in f["latencies_us"])
        client_cpu = sum(f["client_cpu_us_per_request"] * f["answered_total"] for f in mine)
        server_cpu = sum(f["server_cpu_s"] for f in mine)
        return {
            "requests": requests, "errors": sum(f["errors"] for f in mine),
            "seconds": round(seconds, 3),
            "per_s": round(requests / seconds, 1) if seconds else 0.0,
            **latency_quantiles(latencies), "statuses": dict(sorted(statuses.items())),
            "answered_total": answered,
            "client_cpu_us_per_request": round(client_cpu / answered, 1) if answered else 0.0,
            "server_cpu_us_per_request": round(server_cpu / answered * 1e6, 1)
            if answered else None,
            "slices": len(mine),
        }

    def pair_ratios(self, numerator: str, denominator: str) -> list[float]:
        """numerator's rate / denominator's, pass by pass (each pass loads both once)."""
        rates = {(s.phase, s.pass_index): s.figures["per_s"] for s in self.slices}
        passes = sorted({s.pass_index for s in self.slices})
        return [round(rates[numerator, i] / rates[denominator, i], 3) for i in passes
                if rates.get((numerator, i)) is not None and rates.get((denominator, i))]


def pair_summary(stem: str, ratios: Sequence[float]) -> dict[str, Any]:
    if not ratios:
        return {}
    return {f"{stem}_pair_ratios": list(ratios),
            f"{stem}_pair_median": round(statistics.median(ratios), 3),
            f"{stem}_pair_spread": [min(ratios), max(ratios)]}


def run_slices(*, phases: Sequence[P], servers: Mapping[str, RunningServer],
               requests_for: Callable[[P, float], list[bytes]], plan: SlicePlan,
               stage: Callable[[str], None]) -> Rotation:
    """Prime every phase, then measure them in alternating slices (`SlicePlan.passes`).
    `requests_for(phase, seconds)` gives the requests for a load of that duration."""
    pgids = {name: server.pid for name, server in servers.items()}
    with ExitStack() as generators_running:
        generators = {phase.name: generators_running.enter_context(LoadProcess())
                      for phase in phases}

        def spec(phase: P, *, warmup: float, seconds: float, measured: bool) -> LoadSpec:
            """The load's requests, built before its server's CPU is read: a builder
            may itself load the server (the API clients' first contact)."""
            server = servers[phase.variant]
            return LoadSpec(host=server.host, port=server.port,
                            requests=requests_for(phase, warmup + seconds),
                            connections=plan.connections, seconds=seconds, warmup=warmup,
                            keep_latencies=measured)

        def load(phase: P, spec: LoadSpec) -> dict[str, Any]:
            return generators[phase.name].run(spec, single_use=phase.single_use,
                                              measured=spec.keep_latencies)

        for phase in phases:
            if plan.priming > 0:
                stage(f"priming {phase.name}: {plan.priming:g} s")
                load(phase, spec(phase, warmup=0.0, seconds=plan.priming, measured=False))
                _settle(servers[phase.variant].pid)
        idle = dict.fromkeys(servers, 0.0)
        slices = []
        for index, order in enumerate(plan.passes(phases)):
            stage(f"pass {index + 1}/{2 * plan.rounds}: "
                  + ", ".join(phase.name for phase in order)
                  + f" ({plan.warmup:g} s warm-up and {plan.seconds:g} s measured each)")
            for phase in order:
                server = servers[phase.variant]
                idle_cpu = groups_cpu_seconds([server.pid])[server.pid]
                measured = spec(phase, warmup=plan.warmup, seconds=plan.seconds, measured=True)
                if groups_cpu_seconds([server.pid])[server.pid] != idle_cpu:
                    _settle(server.pid)  # what the builder sent it, finished before the slice
                before = groups_cpu_seconds(pgids.values())
                figures = load(phase, measured)
                _settle(server.pid)
                after = groups_cpu_seconds(pgids.values())
                for name, pgid in pgids.items():
                    if name != phase.variant:
                        idle[name] += after[pgid] - before[pgid]
                figures["server_cpu_s"] = after[server.pid] - before[server.pid]
                slices.append(Slice(phase=phase.name, pass_index=index, figures=figures))
    return Rotation(slices=slices,
                    idle_cpu_ms={name: round(cpu * 1000, 1) for name, cpu in idle.items()})


class LoadProcess:
    """A phase's load generator, a process of its own for the whole rotation: its
    requests are sent to it once (again only when they change: single-use requests),
    and each load goes on in them where the last one stopped, as one long phase would
    (the exfiltration guard must not see the same sessions check the same persons again
    at every slice)."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "rempart.bench.load"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._requests: list[bytes] | None = None
        self._sent = 0

    def __enter__(self) -> LoadProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        stdin = self._process.stdin
        if stdin is not None:
            stdin.close()  # the generator ends at the end of its input
        try:
            self._process.wait(timeout=LOAD_TIMEOUT_MARGIN_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()  # run in-process, a test would see it left open

    def run(self, spec: LoadSpec, *, single_use: bool, measured: bool) -> dict[str, Any]:
        first = 0 if single_use else self._sent
        sent_spec = replace(spec, first=first, requests=[] if spec.requests is self._requests
                            else spec.requests)
        if single_use:
            sent_spec = replace(sent_spec, max_requests=len(spec.requests))
        self._requests = spec.requests
        stdin, stdout = self._process.stdin, self._process.stdout
        if stdin is None or stdout is None:
            raise BenchError("the load generator has no pipes")
        stdin.write(sent_spec.to_json() + b"\n")
        stdin.flush()
        ready, _, _ = select.select([stdout], [], [],
                                    spec.warmup + spec.seconds + LOAD_TIMEOUT_MARGIN_S)
        line = stdout.readline() if ready else b""
        if not line:
            raise BenchError(f"the load generator failed (status {self._process.poll()})")
        figures: dict[str, Any] = orjson.loads(line)
        if measured and single_use and figures["answered_total"] >= len(spec.requests):
            raise BenchError(f"a slice used all its {len(spec.requests)} single-use requests "
                             "before its end: its rate would be understated")
        self._sent = 0 if single_use else self._sent + figures["sent"]
        figures["first"] = first
        return figures


def _settle(pgid: int) -> None:
    """Wait until the server's processes stop using CPU (bounded)."""
    deadline = time.monotonic() + SETTLE_LIMIT_S
    last = groups_cpu_seconds([pgid])[pgid]
    while time.monotonic() < deadline:
        time.sleep(SETTLE_POLL_S)
        now = groups_cpu_seconds([pgid])[pgid]
        if now == last:
            return
        last = now
