"""What the memory-mode guard keeps per new account: bytes and objects left per check.

    .venv/bin/python scripts/probe_guard_memory.py [--src OTHER_SRC] [--accounts N] [--top K]

Feeds `rempart bench checks`' kind of traffic (every check a new account, session and
address, a matched, covered patient) to a CheckGate on a memory-mode guard with a
ManualClock: N checks as warm-up, N more counting the objects the cyclic collector
tracks, then N more under tracemalloc. Prints the bytes still allocated per new
account after a full collection, the objects the collector still tracks per account,
and the K allocation sites holding the most
(docs/guard.md, "Fewer objects per new account"). `--src` runs another tree's package
(e.g. main's) instead of this one's. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import sys
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

HERE_SRC = str(Path(__file__).resolve().parent.parent / "src")


@dataclass(frozen=True)
class Facts:
    profession: str
    departement: str
    postcode: str
    size_class: str


@dataclass(frozen=True)
class Requester:
    account_id: int | None
    organisation_id: int
    professional_id: int | None
    session_id: str
    client_address: str
    device_id: str | None
    network: str | None = None


class Organisations:
    def facts(self, organisation_id: int) -> Facts:
        return Facts("pharmacy", "75", "75001", "small")


class Containment:
    def require_step_up(self, session_id: str) -> None: ...

    def end_session(self, session_id: str) -> None: ...

    def suspend_account(self, account_id: int) -> None: ...


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default=HERE_SRC)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    sys.path.insert(0, args.src)
    from rempart.clock import ManualClock
    from rempart.guard import GuardSettings, LookupOutcome, MemoryAlertSink, build_guard
    from rempart.guard.gate import CheckGate
    from rempart.web.asgi import GC_THRESHOLDS

    gc.set_threshold(*GC_THRESHOLDS)
    clock = ManualClock(dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC))
    gate = CheckGate(guard=build_guard(GuardSettings(), clock=clock, alerts=MemoryAlertSink()),
                     organisations=Organisations(), containment=Containment())
    rnd = random.Random(1)

    def run(first: int, end: int) -> None:
        for k in range(first, end):
            clock.advance(0.001)
            requester = Requester(None, k % 3558, None, f"demo:bench-{k}",
                                  f"10.{k % 250}.{k // 250 % 250}.1", None)
            ctx = gate.before(requester, at=clock.now())
            gate.after(ctx, requester, LookupOutcome(
                matched=True, person_key=f"p{rnd.randrange(10**6)}", departement="75",
                covered=True, check_reference=f"r{k}"))

    n = args.accounts
    run(0, n)
    gc.collect()
    tracked = len(gc.get_objects())
    run(n, 2 * n)
    gc.collect()
    tracked = len(gc.get_objects()) - tracked
    # Bytes over the next N (tracemalloc's snapshots are objects the collector tracks).
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    run(2 * n, 3 * n)
    gc.collect()
    after = tracemalloc.take_snapshot()
    stats = [s for s in after.compare_to(before, "lineno")
             if s.traceback[0].filename != __file__]
    total = sum(s.size_diff for s in stats)
    print(f"{args.src}: {total / n:.0f} bytes per new account, "
          f"{tracked / n:.1f} objects tracked by the collector per account")
    for s in stats[:args.top]:
        print(f"{s.size_diff / n:8.0f} B {s.count_diff / n:6.2f} objects  {s.traceback[0]}")


if __name__ == "__main__":
    main()
