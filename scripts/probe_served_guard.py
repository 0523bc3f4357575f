"""Where the served guard's CPU goes: bench_served_inprocess.py with the parts timed.

    PYTHONPATH=src python scripts/probe_served_guard.py --data-dir DIR [--checks N]
        [--rounds R] [--no-gc | --freeze] [--gc-thresholds G0,G1,G2] [--shadow before|after]

Runs the embedded app a server builds (SQLite, guard state in memory) over the bench's
instance in DIR and feeds it the bench's checks as `bench_served_inprocess.py` does
(REMPART_BENCH_GUARD=off in the environment: the guard-off app). Per check, besides
the process's CPU: the thread CPU of `CheckGate.before` + `after`, of the whole
`CheckService._look_up` and of its database read (`CheckReads.find`), the cyclic
collector's time (all of it, and the part inside the gate) and its collections per
generation, minor page faults.

`--no-gc` disables the collector after the warm-up (the collector's whole share,
caches included); `--freeze` collects and freezes everything the warm-up left
(`gc.freeze`); `--gc-thresholds` replaces the app's (web/asgi.py, GC_THRESHOLDS).

`--shadow after` runs every gate call again, right after the served one, on a second
guard of its own (same inputs, its own state, allocated beside the first's);
`--shadow before` right before it. The same code and state layout are then timed once
after the HTTP stack and the look-up ran and once right after themselves (the
module-level memo caches, `lru_cache`s of digests and keys, are shared by both guards:
the call that comes second finds its keys there). docs/guard.md, "The served gap".
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import time
from pathlib import Path
from typing import Any

import bench_served_inprocess as served
import uvloop

from rempart.clock import SystemClock
from rempart.coverage.check_reads import CheckReads
from rempart.coverage.service import CheckService
from rempart.guard import GuardSettings, MemoryAlertSink, build_guard
from rempart.guard.errors import CheckWithheld
from rempart.guard.gate import CheckGate
from rempart.web import asgi

spent: dict[str, int] = {}
_collecting = {"since": 0}


def _add(key: str, ns: int) -> None:
    spent[key] = spent.get(key, 0) + ns


def _clocked(key: str, call: Any) -> Any:
    """call(), its thread CPU added to `key` and the collector's time within it to
    `gc in key`."""
    start, collected = time.thread_time_ns(), spent.get("gc", 0)
    try:
        return call()
    finally:
        _add(key, time.thread_time_ns() - start)
        _add(f"gc in {key}", spent.get("gc", 0) - collected)


def _timed(cls: type, name: str, key: str) -> None:
    original = getattr(cls, name)

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        return _clocked(key, lambda: original(self, *args, **kwargs))

    setattr(cls, name, timed)


def _collector(phase: str, _info: dict[str, int]) -> None:
    if phase == "start":
        _collecting["since"] = time.thread_time_ns()
    else:
        _add("gc", time.thread_time_ns() - _collecting["since"])


def _shadowed(where: str) -> None:
    """Each gate call made again on a second guard (see the module docstring)."""
    before, after = CheckGate.before, CheckGate.after
    shadows: dict[int, CheckGate] = {}
    contexts: dict[int, Any] = {}

    def shadow_of(gate: CheckGate) -> CheckGate:
        if id(gate) not in shadows:
            shadows[id(gate)] = CheckGate(
                guard=build_guard(GuardSettings(), clock=SystemClock(), alerts=MemoryAlertSink()),
                organisations=gate._organisations, containment=gate._containment)
        return shadows[id(gate)]

    def in_turn(served_call: Any, shadow_call: Any) -> Any:
        if where == "before":
            _clocked("shadow", shadow_call)
        try:
            return _clocked("gate", served_call)
        finally:
            if where == "after":
                _clocked("shadow", shadow_call)

    def quiet(call: Any) -> Any:
        try:
            return call()
        except CheckWithheld:
            return None

    def shadow_before(self: CheckGate, requester: Any, *, at: Any) -> Any:
        shadow, seen = shadow_of(self), {}

        def run_shadow() -> None:
            seen["ctx"] = quiet(lambda: before(shadow, requester, at=at))

        ctx = in_turn(lambda: before(self, requester, at=at), run_shadow)
        contexts[id(ctx)] = seen.get("ctx")
        return ctx

    def shadow_after(self: CheckGate, ctx: Any, requester: Any, outcome: Any) -> Any:
        shadow, own = shadow_of(self), contexts.pop(id(ctx), None)

        def run_shadow() -> None:
            if own is not None:
                quiet(lambda: after(shadow, own, requester, outcome))

        return in_turn(lambda: after(self, ctx, requester, outcome), run_shadow)

    CheckGate.before, CheckGate.after = shadow_before, shadow_after  # type: ignore[method-assign]


async def _measure(requests: served.Requests, checks: int, rounds: int,
                   collector: str) -> None:
    from rempart.web.asgi import create_app_from_environment

    app = create_app_from_environment()
    async with app.router.lifespan_context(app):
        await served._drive(app, requests, 0, served.WARMUP)
        if collector == "off":
            gc.disable()
        elif collector == "freeze":
            gc.collect()
            gc.freeze()
        start = served.WARMUP
        for number in range(rounds):
            spent.clear()
            stats, usage = gc.get_stats(), resource.getrusage(resource.RUSAGE_SELF)
            statuses = await served._drive(app, requests, start, checks)
            now, stats_now = resource.getrusage(resource.RUSAGE_SELF), gc.get_stats()
            start += checks
            cpu = now.ru_utime + now.ru_stime - usage.ru_utime - usage.ru_stime
            print(json.dumps({
                "guard": os.environ.get("REMPART_BENCH_GUARD", "on"), "round": number,
                "cpu_us": round(cpu / checks * 1e6, 1),
                "sys_us": round((now.ru_stime - usage.ru_stime) / checks * 1e6, 1),
                **{f"{k}_us": round(v / checks / 1e3, 1) for k, v in sorted(spent.items())},
                "collections": [b["collections"] - a["collections"]
                                for a, b in zip(stats, stats_now, strict=True)],
                "minor_faults": round((now.ru_minflt - usage.ru_minflt) / checks, 2),
                "statuses": statuses, "load": os.getloadavg()[0]}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--checks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-gc", action="store_true")
    parser.add_argument("--freeze", action="store_true")
    parser.add_argument("--gc-thresholds", type=lambda t: tuple(int(x) for x in t.split(",")))
    parser.add_argument("--shadow", choices=["before", "after"])
    args = parser.parse_args()
    if args.shadow:
        _shadowed(args.shadow)
    else:
        _timed(CheckGate, "before", "gate")
        _timed(CheckGate, "after", "gate")
    _timed(CheckService, "_look_up", "lookup")
    _timed(CheckReads, "find", "find")
    gc.callbacks.append(_collector)
    bench = served._instance("embedded", args.data_dir, "unused", served.POSTGRES)
    requests = served.Requests(bench)
    os.environ.update({**bench.server_env, "REMPART_WORKERS": "1"})
    if args.gc_thresholds:
        asgi.GC_THRESHOLDS = args.gc_thresholds
    collector = "off" if args.no_gc else "freeze" if args.freeze else "on"
    uvloop.run(_measure(requests, args.checks, args.rounds, collector))


if __name__ == "__main__":
    main()
