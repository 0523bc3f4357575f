"""The guard on Redis called from several threads at once, as a server's look-up threads
call it: checks per second through CheckGate, and CPU per check.

    .venv/bin/python scripts/bench_guard_threads.py --redis redis://127.0.0.1:6379/0
        [--threads 6] [--checks 3000] [--wait-ms 1.5] [--rounds 3] [--against OTHER_SRC]

Each thread plays checks of accounts of its own (`rempart bench checks`' traffic: each
session its own account and address): `CheckGate.before`, then a wait of `--wait-ms`
that holds no lock and releases the GIL (the look-up's query on a database server),
then `CheckGate.after`. Prints, per tree and round: checks per second (wall), this
process's CPU µs per check, and the Redis server's (its /proc stat, when it runs on
this machine and is readable: the whole server's, other clients' included). With
`--against`, the other tree runs the same stream right after, each round, so that both
see about the same machine load. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE_SRC = str(Path(__file__).resolve().parent.parent / "src")


def redis_cpu_s() -> float | None:
    """The local redis-server's user + system CPU seconds, if it can be read."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "redis-server":
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return None


def measure(src: str, threads: int, checks: int, wait_s: float,
            redis_url: str) -> dict[str, object]:
    sys.path.insert(0, src)
    import datetime as dt
    import random
    import threading
    import time
    from dataclasses import dataclass

    import redis

    from rempart.clock import ManualClock
    from rempart.guard import GuardSettings, LookupOutcome, MemoryAlertSink, build_guard
    from rempart.guard.errors import CheckWithheld
    from rempart.guard.gate import CheckGate

    @dataclass(frozen=True)
    class Facts:
        profession: str = "pharmacy"
        departement: str = "33"
        postcode: str = "33000"
        size_class: str = "small"

    @dataclass(frozen=True)
    class Requester:
        account_id: int | None
        organisation_id: int
        professional_id: int | None
        session_id: str | None
        client_address: str | None
        device_id: str | None
        network: str | None = None

    class Organisations:
        def facts(self, organisation_id: int) -> Facts | None:
            return Facts()

    class Containment:
        def require_step_up(self, session_id: str) -> None: ...

        def end_session(self, session_id: str) -> None: ...

        def suspend_account(self, account_id: int) -> None: ...

    prefix = f"bench-threads-{os.getpid()}"
    clock = ManualClock(dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC))
    gate = CheckGate(guard=build_guard(GuardSettings(storage_uri=redis_url, key_prefix=prefix),
                                       clock=clock, alerts=MemoryAlertSink()),
                     organisations=Organisations(), containment=Containment())
    per_thread = checks // threads
    answered = [0] * threads

    def play(n: int) -> None:
        rnd = random.Random(n)
        for i in range(per_thread):
            k = n * 100_000 + i % 2_000  # each thread its own accounts
            requester = Requester(None, k % 3_558, None, f"demo:bench-{k}",
                                  f"10.{k % 250}.{k // 250 % 250}.1", None)
            matched = rnd.random() < 0.9
            outcome = LookupOutcome(
                matched=matched, person_key=f"p{rnd.randrange(10**6)}" if matched else None,
                departement="33" if matched else None, covered=matched,
                check_reference=f"r{n}-{i}" if matched else None)
            try:
                ctx = gate.before(requester, at=clock.now())
                time.sleep(wait_s)
                gate.after(ctx, requester, outcome)
                answered[n] += 1
            except CheckWithheld:
                pass

    redis_before = redis_cpu_s()
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    workers = [threading.Thread(target=play, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - wall_before
    cpu = time.process_time() - cpu_before
    redis_after = redis_cpu_s()
    done = per_thread * threads
    client = redis.Redis.from_url(redis_url)
    for pattern in (f"{prefix}:*", f"{prefix}-limits*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i:i + 500])
    return {"src": src, "per_s": round(done / wall, 1),
            "cpu_us_per_check": round(cpu / done * 1e6, 1),
            "redis_cpu_us_per_check": round((redis_after - redis_before) / done * 1e6, 1)
            if redis_before is not None and redis_after is not None else None,
            "answered": sum(answered)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", required=True)
    parser.add_argument("--threads", type=int, default=6)
    parser.add_argument("--checks", type=int, default=3000)
    parser.add_argument("--wait-ms", type=float, default=1.5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", help="another tree's src directory, run after this one")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.threads, args.checks, args.wait_ms / 1000,
                                 args.redis)))
        return
    sources = [HERE_SRC, *([args.against] if args.against else [])]
    results: dict[str, list[dict[str, object]]] = {src: [] for src in sources}
    for _ in range(args.rounds):
        for src in sources:
            out = subprocess.run(  # noqa: S603 - this interpreter, this script
                [sys.executable, __file__, "--one", src, "--redis", args.redis,
                 "--threads", str(args.threads), "--checks", str(args.checks),
                 "--wait-ms", str(args.wait_ms)],
                capture_output=True, text=True, check=True).stdout
            results[src].append(json.loads(out))
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(f"{args.checks} checks, {args.threads} threads, {args.wait_ms} ms look-up wait, "
          f"{args.rounds} rounds, load average {load}")
    for src, rows in results.items():
        rates = [float(str(r["per_s"])) for r in rows]
        print(f"  {src}: {statistics.median(rates):.0f} checks/s (runs {rates}), CPU µs per "
              f"check {[r['cpu_us_per_check'] for r in rows]}, Redis CPU µs per check "
              f"{[r['redis_cpu_us_per_check'] for r in rows]}, answered "
              f"{[r['answered'] for r in rows]}")
    if args.against:
        pairs = zip(results[HERE_SRC], results[args.against], strict=True)
        print("  this / other checks/s, per round:",
              [round(float(str(a["per_s"])) / float(str(b["per_s"])), 3) for a, b in pairs])


if __name__ == "__main__":
    main()
