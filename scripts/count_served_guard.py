"""The served guard's cost in instructions (callgrind), beside the engine loop's.

    PYTHONPATH=src:scripts valgrind --tool=callgrind --instr-atstart=no \
        [--collect-atstart=no] [--cache-sim=yes] --callgrind-out-file=OUT \
        python scripts/count_served_guard.py served --data-dir DIR [--checks N] \
            [--gate-only | --count-in TARGET]
    ... count_served_guard.py loop [--checks N] [--gate-only | --count-in TARGET]

Time on a shared 2-core machine moves by tens of percent between runs; instructions
counted by callgrind do not (a run repeated gives the same count to a fraction of a
percent), and with `--cache-sim=yes` callgrind also counts the misses of a simulated
cache, which tells a cold-cache cost from extra work. This script puts callgrind's
client requests (`valgrind/callgrind.h`, compiled once into a small library with `cc`;
no-ops outside valgrind) around the part to count:

- `served`: the app a server builds over the bench's instance in DIR (`embedded`: SQLite,
  guard state in memory; REMPART_BENCH_GUARD=off in the environment for the guard-off
  app), fed the bench's checks by 32 tasks as `bench_served_inprocess.py` does. The
  first 2,000 checks run uninstrumented (start-up and warm-up at valgrind's plain
  speed), then instrumentation starts, 300 more checks warm the simulated caches, the
  counts are zeroed and N checks (default 1,000) counted;
- `loop`: `bench_guard_engine.py`'s `bench` stream (every check a new account and
  session, as in the bench) through `CheckGate` in a tight loop: instrumentation
  starts 300 checks before the stream's warm-up ends, the counts are zeroed when it
  ends and the rest of the stream (N checks) is counted;
- `--gate-only` (run callgrind with `--collect-atstart=no`): only what runs inside
  `CheckGate.before` and `after` (the collector's passes started there included) is
  counted, served or in the loop: the guard's own instructions in both settings.
  The toggles' own cost is measured on empty regions and dumped alone (`toggles`,
  1,000 empty regions), to subtract;
- `--count-in module:Class.method` (instead of `--gate-only`, same callgrind options):
  only what runs inside that one method is counted, e.g.
  `rempart.guard.guard:Guard.before_check`: the gate's instructions by part.

Prints one JSON line (checks counted, the gate's calls); callgrind writes the counts
(`callgrind_annotate OUT`, totals on the `summary`/`totals` line). docs/guard.md,
"Where the served guard's cost goes, counted (callgrind)".
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MARKS_C = r"""
#include <valgrind/callgrind.h>
void cg_start(void) { CALLGRIND_START_INSTRUMENTATION; }
void cg_zero(void) { CALLGRIND_ZERO_STATS; }
void cg_toggle(void) { CALLGRIND_TOGGLE_COLLECT; }
void cg_dump(const char *what) { CALLGRIND_DUMP_STATS_AT(what); }
"""
WARMUP = 2_000  # served checks before instrumentation starts
CACHE_WARMUP = 300  # instrumented checks before the counts are zeroed


def _marks() -> ctypes.CDLL:
    """callgrind's client requests as C functions (built in a temporary directory)."""
    build = Path(tempfile.mkdtemp(prefix="cgmarks-"))
    (build / "marks.c").write_text(MARKS_C)
    subprocess.run(["cc", "-O1", "-shared", "-fPIC", "-o", str(build / "marks.so"),  # noqa: S603,S607
                    str(build / "marks.c")], check=True)
    return ctypes.CDLL(str(build / "marks.so"))


class Gates:
    """CheckGate.before/after wrapped: collection toggled around each call (gate-only),
    instrumentation started and counts zeroed at given `before` calls (the loop)."""

    def __init__(self, marks: ctypes.CDLL, *, gate_only: bool, start_at: int = -1,
                 zero_at: int = -1) -> None:
        self.marks, self.gate_only = marks, gate_only
        self.start_at, self.zero_at = start_at, zero_at
        self.befores = self.afters = 0

    def install(self) -> None:
        from rempart.guard.gate import CheckGate

        before, after = CheckGate.before, CheckGate.after
        marks, gates = self.marks, self

        def counted_before(gate: Any, requester: Any, *, at: Any) -> Any:
            if gates.befores == gates.start_at:
                marks.cg_start()
            if gates.befores == gates.zero_at:
                marks.cg_zero()
            gates.befores += 1
            if not gates.gate_only:
                return before(gate, requester, at=at)
            marks.cg_toggle()
            try:
                return before(gate, requester, at=at)
            finally:
                marks.cg_toggle()

        def counted_after(gate: Any, ctx: Any, requester: Any, outcome: Any) -> Any:
            gates.afters += 1
            if not gates.gate_only:
                return after(gate, ctx, requester, outcome)
            marks.cg_toggle()
            try:
                return after(gate, ctx, requester, outcome)
            finally:
                marks.cg_toggle()

        CheckGate.before, CheckGate.after = counted_before, counted_after  # type: ignore

    def count_in(self, target: str) -> None:
        count_in(self.marks, target)

    def calibrate(self, pairs: int = 1_000) -> None:
        """`pairs` empty toggled regions, counted and dumped alone (the toggles' cost)."""
        self.marks.cg_zero()
        for _ in range(pairs):
            self.marks.cg_toggle()
            self.marks.cg_toggle()
        self.marks.cg_dump(b"toggles")


def count_in(marks: Any, target: str) -> None:
    """Collection toggled around every call of `target` (module:Name or
    module:Class.method), replaced where it is looked up (the module or the class)."""
    module, _, qualname = target.partition(":")
    owner: Any = importlib.import_module(module)
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        marks.cg_toggle()
        try:
            return original(*args, **kwargs)
        finally:
            marks.cg_toggle()

    setattr(owner, name, counted)


def _compiled() -> bool:
    """Whether the guard ran compiled (scripts/build_guard_mypyc.py's tree on the path)."""
    return str(getattr(sys.modules.get("rempart.guard.guard"), "__file__", "")).endswith(".so")


def served(data_dir: Path, checks: int, gate_only: bool, count_in: str | None) -> dict[str, Any]:
    import bench_served_inprocess as bench
    import uvloop

    marks = _marks()
    gates = Gates(marks, gate_only=gate_only)
    gates.install()
    if count_in:
        gates.count_in(count_in)
    instance = bench._instance("embedded", data_dir, "unused", bench.POSTGRES)
    requests = bench.Requests(instance)
    os.environ.update({**instance.server_env, "REMPART_WORKERS": "1"})

    async def run() -> dict[int, int]:
        from rempart.web.asgi import create_app_from_environment

        app = create_app_from_environment()
        async with app.router.lifespan_context(app):
            await bench._drive(app, requests, 0, WARMUP)
            marks.cg_start()
            await bench._drive(app, requests, WARMUP, CACHE_WARMUP)
            if gate_only or count_in:
                gates.calibrate()
            marks.cg_zero()
            gates.befores = gates.afters = 0
            statuses = await bench._drive(app, requests, WARMUP + CACHE_WARMUP, checks)
            marks.cg_dump(b"measured")
            return statuses

    statuses = uvloop.run(run())
    return {"what": "served", "guard": os.environ.get("REMPART_BENCH_GUARD", "on"),
            "gate_only": gate_only, "checks": checks, "befores": gates.befores,
            "afters": gates.afters, "statuses": statuses, "compiled": _compiled()}


def loop(checks: int, gate_only: bool, count_in: str | None,
         networks: int = 0) -> dict[str, Any]:
    import bench_guard_engine as engine

    # The stream's first fifth is its warm-up (bench_guard_engine.measure).
    total = checks * 5 // 4
    warm_up = total // 5
    marks = _marks()
    gates = Gates(marks, gate_only=gate_only, start_at=warm_up - CACHE_WARMUP,
                  zero_at=warm_up)
    sys.path.insert(0, str(HERE.parent / "src"))
    gates.install()
    if count_in:
        gates.count_in(count_in)
    result = engine.measure(str(HERE.parent / "src"), "bench", total, None,
                            **({"networks": networks} if networks else {}))
    marks.cg_dump(b"measured")
    if gate_only or count_in:
        gates.calibrate()
    return {"what": "loop", "gate_only": gate_only, "count_in": count_in, "checks": total - warm_up,
            "befores": gates.befores - warm_up, "digest": result["digest"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["served", "loop"])
    parser.add_argument("--data-dir", type=Path, help="the bench's instance (served)")
    parser.add_argument("--checks", type=int, default=1_000)
    parser.add_argument("--gate-only", action="store_true",
                        help="count only inside CheckGate.before/after")
    parser.add_argument("--networks", type=int, default=0, metavar="N",
                        help="loop: each check's AS known, one of N (default: unknown)")
    parser.add_argument("--count-in", metavar="MODULE:CLASS.METHOD",
                        help="count only inside this method (run with --collect-atstart=no)")
    args = parser.parse_args()
    if args.what == "served":
        if args.data_dir is None:
            parser.error("served needs --data-dir")
        print(json.dumps(served(args.data_dir, args.checks, args.gate_only,
                                args.count_in)))
    else:
        print(json.dumps(loop(args.checks, args.gate_only, args.count_in, args.networks)))


if __name__ == "__main__":
    main()
