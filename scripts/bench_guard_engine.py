"""The guard's CPU per check, through CheckGate as the check path calls it.

    .venv/bin/python scripts/bench_guard_engine.py [--workload bench|warm] [--checks N]
        [--rounds R] [--against OTHER_SRC] [--evict KIB] [--redis redis://127.0.0.1:6379/0]
        [--profile N] [--shared CIDR]

Feeds one seeded stream of checks to `CheckGate.before` / `CheckGate.after` (and
`claimed`) on a memory-mode guard with a ManualClock, and prints the CPU time per check
(after a fifth of the stream as warm-up), the cyclic collector's share, and a digest of
every decision and alert. `--against` runs another source tree (e.g. main's `src`) on
the same stream at the same time, each round, so both see the same machine load: equal
digests mean both made the same decisions.

With `--redis URL` the guard keeps its state in Redis (the scaled-out shape, a key
prefix of its own per run, deleted afterwards), and the run also counts redis-py's
round trips (packed sends) and commands (replies read) per measured check.

Workloads: `bench` is `rempart bench checks`' traffic (20,000 demo sessions, each its
own account and address, over 3,558 organisations: nearly every check is a new account's
first); `warm` is 400 practices with recurring patients and claims, plus a few
attackers that get contained. Prints figures; asserts nothing.

`--profile N` runs this tree once under cProfile (the measured part only: its CPU
figure is then the profiler's, not the guard's) and prints its N most expensive
functions by own time, then by cumulated time, to stderr.

`--evict KIB` keeps that much of other objects and updates a quarter of them, in random
order, between two checks (untimed): in a server the rest of a request's work (HTTP,
the look-up, the vault) runs between two checks' guard calls and evicts the guard's
code and state from the CPU caches, which a tight loop of checks never does
(docs/guard.md, "The served path, 2026-12-01").
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
PROFESSIONS = ["pharmacy", "optician", "dentist", "physiotherapist", "hearing_aid",
               "hospital", "physician", "nurse", "laboratory"]
SIZES = ["solo", "small", "medium", "large"]
DEPARTEMENTS = [f"{i:02d}" for i in range(1, 96) if i != 20] + ["2A", "2B"]
ORGANISATIONS = 3558


def measure(src: str, workload: str, checks: int, redis_url: str | None,
            evict_kib: int = 0, profile: int = 0, shared: str | None = None,
            networks: int = 0) -> dict[str, object]:
    """Run the stream on the rempart package found in `src` (imported here, in a process
    of its own)."""
    sys.path.insert(0, src)
    import cProfile
    import dataclasses
    import datetime as dt
    import gc
    import hashlib
    import pstats
    import random
    import time
    from dataclasses import dataclass

    from rempart.clock import ManualClock
    from rempart.guard import GuardSettings, LookupOutcome, MemoryAlertSink, build_guard
    from rempart.guard.errors import CheckWithheld
    from rempart.guard.gate import CheckGate
    from rempart.web.asgi import GC_THRESHOLDS

    gc.set_threshold(*GC_THRESHOLDS)
    trips = {"sends": 0, "replies": 0}
    prefix = f"bench-engine-{os.getpid()}"
    if redis_url:
        from redis.connection import Connection

        send, read = Connection.send_packed_command, Connection.read_response

        def counted_send(self: Connection, *args: object, **kwargs: object) -> object:
            trips["sends"] += 1
            return send(self, *args, **kwargs)  # type: ignore[arg-type]

        def counted_read(self: Connection, *args: object, **kwargs: object) -> object:
            trips["replies"] += 1
            return read(self, *args, **kwargs)  # type: ignore[arg-type]

        Connection.send_packed_command = counted_send  # type: ignore[method-assign]
        Connection.read_response = counted_read  # type: ignore[method-assign]

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
        session_id: str | None
        client_address: str | None
        device_id: str | None
        network: str | None = None

    class Organisations:
        def __init__(self, rnd: random.Random) -> None:
            self.table = {i: Facts(rnd.choice(PROFESSIONS), rnd.choice(DEPARTEMENTS), "75001",
                                   rnd.choice(SIZES)) for i in range(ORGANISATIONS)}

        def facts(self, organisation_id: int) -> Facts | None:
            return self.table.get(organisation_id)

    class Containment:
        def require_step_up(self, session_id: str) -> None: ...

        def end_session(self, session_id: str) -> None: ...

        def suspend_account(self, account_id: int) -> None: ...

    rnd = random.Random(7)
    organisations = Organisations(rnd)
    Step = tuple[float, Requester, LookupOutcome, bool]
    stream: list[Step] = []
    if workload == "bench":
        for i in range(checks):
            k = i % 20_000
            matched = rnd.random() < 0.9
            stream.append((0.001, Requester(
                None, k % ORGANISATIONS, None, f"demo:bench-{k}",
                f"10.{k % 250}.{k // 250 % 250}.1", None,
                # Its AS where the edge knows it (--networks: that many, round robin).
                f"AS{64500 + k % networks}" if networks else None), LookupOutcome(
                matched=matched, person_key=f"p{rnd.randrange(10**6)}" if matched else None,
                departement=rnd.choice(DEPARTEMENTS) if matched else None, covered=matched,
                check_reference=f"r{i}" if matched else None), False))
    else:
        pools = [[(f"a{a}p{j}", organisations.table[a].departement if rnd.random() < 0.85
                   else rnd.choice(DEPARTEMENTS)) for j in range(300)] for a in range(400)]
        logins = [0] * 400
        for i in range(checks):
            attacker = rnd.random() < 0.03
            a = rnd.randrange(5) if attacker else rnd.randrange(400)
            if rnd.random() < 0.002:
                logins[a] += 1
            if attacker:
                requester = Requester(a + 1, a, None, f"portal:x{a}", f"45.1.{a}.9", "evil")
                matched = rnd.random() < 0.7
                key, place = f"leak{rnd.randrange(10**6)}", rnd.choice(DEPARTEMENTS)
            else:
                requester = Requester(a + 1, a, None, f"portal:{a}-{logins[a]}",
                                      f"192.168.{a % 250}.{a // 250 + 1}", f"dev{a}")
                matched = rnd.random() < 0.97
                key, place = rnd.choice(pools[a])
            near = not matched and rnd.random() < 0.3
            stream.append((0.4, requester, LookupOutcome(
                matched=matched, person_key=key if matched or near else None,
                departement=place if matched else None, near_miss=near, covered=matched,
                check_reference=f"r{i}" if matched else None),
                matched and not attacker and rnd.random() < 0.9))

    clock = ManualClock(dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC))
    alerts = MemoryAlertSink()
    settings = (GuardSettings(storage_uri=redis_url, key_prefix=prefix) if redis_url
                else GuardSettings())
    if shared:  # one listed shared network (rempart.guard.shared) over these addresses
        from rempart.guard.shared import parse_entries

        settings = dataclasses.replace(settings, shared_networks=parse_entries(
            {"network": [{"label": "bench", "cidrs": [shared]}]}))
    gate = CheckGate(guard=build_guard(settings, clock=clock, alerts=alerts),
                     organisations=organisations, containment=Containment())
    collector = {"since": 0.0, "spent": 0.0}

    def timed_collection(phase: str, _: dict[str, int]) -> None:
        if phase == "start":
            collector["since"] = time.process_time()
        else:
            collector["spent"] += time.process_time() - collector["since"]

    gc.callbacks.append(timed_collection)
    # About 256 bytes per small dict (its table and two values): a quarter of them updated
    # between two checks, in an order reshuffled every 1,000 checks.
    others = [{"a": i, "b": str(i)} for i in range(evict_kib * 4)]
    order = list(range(len(others)))
    shuffle = random.Random(3).shuffle
    shuffle(order)
    digest = hashlib.sha256()
    warm_up = len(stream) // 5
    spent = 0.0
    profiler = cProfile.Profile() if profile else None
    for n, (step, requester, outcome, claim) in enumerate(stream):
        if others:
            for i in order[:len(order) // 4]:
                others[i]["a"] += 1
            if n % 1000 == 0:
                shuffle(order)
        clock.advance(step)
        now = clock.now()
        if n == warm_up:
            collector["spent"] = 0.0
            counted = dict(trips)
        start = time.process_time()
        if profiler is not None and n >= warm_up:
            profiler.enable()
        try:
            ctx = gate.before(requester, at=now)
            gate.after(ctx, requester, outcome)
            answer = "answered"
        except CheckWithheld as exc:
            answer = repr(exc.args)
        if claim and answer == "answered" and outcome.check_reference:
            gate.claimed(requester, check_reference=outcome.check_reference)
        if profiler is not None:
            profiler.disable()
        if n >= warm_up:
            spent += time.process_time() - start
        digest.update(f"{n}|{answer}\n".encode())
    for alert in alerts.alerts:
        digest.update(repr((alert.account_id, alert.session_id, alert.action, alert.reasons,
                            alert.score)).encode())
    measured = len(stream) - warm_up
    if profiler is not None:
        for order in ("tottime", "cumtime"):
            pstats.Stats(profiler, stream=sys.stderr).sort_stats(order).print_stats(profile)
    per_check = {k: round((trips[k] - counted[k]) / measured, 2) for k in trips}
    if redis_url:
        import redis

        client = redis.Redis.from_url(redis_url)
        for pattern in (f"{prefix}:*", f"{prefix}-limits*"):
            keys = list(client.scan_iter(match=pattern, count=1000))
            for i in range(0, len(keys), 500):
                client.delete(*keys[i:i + 500])
    return {"src": src, "us_per_check": round(spent / measured * 1e6, 1),
            "redis_per_check": per_check,
            "collector_us_per_check": round(collector["spent"] / measured * 1e6, 1),
            "alerts": len(alerts.alerts), "digest": digest.hexdigest()[:16],
            # Whether this tree's guard ran compiled (scripts/build_guard_mypyc.py).
            "compiled": str(getattr(sys.modules["rempart.guard.guard"], "__file__", "")
                            ).endswith(".so")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=["bench", "warm"], default="bench")
    parser.add_argument("--checks", type=int, default=12_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", help="another tree's src directory, run beside this one")
    parser.add_argument("--evict", type=int, default=0, metavar="KIB",
                        help="other objects read between two checks (see docstring)")
    parser.add_argument("--redis", help="keep the guard's state in this Redis (scaled out)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="run this tree once under cProfile, print its N dearest functions")
    parser.add_argument("--shared", metavar="CIDR",
                        help="list this network as shared (the warm workload's practices "
                        "are in 192.168.0.0/16)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.workload, args.checks, args.redis, args.evict,
                                 shared=args.shared)))
        return
    if args.profile:
        print(json.dumps(measure(HERE_SRC, args.workload, args.checks, args.redis, args.evict,
                                 profile=args.profile, shared=args.shared)))
        return
    sources = [HERE_SRC, *([args.against] if args.against else [])]
    results: dict[str, list[dict[str, object]]] = {src: [] for src in sources}
    for _ in range(args.rounds):
        runs = [subprocess.Popen(  # noqa: S603 - this interpreter, this script
            [sys.executable, __file__, "--one", src, "--workload", args.workload,
             "--checks", str(args.checks), "--evict", str(args.evict),
             *(["--redis", args.redis] if args.redis else []),
             *(["--shared", args.shared] if args.shared else [])],
            stdout=subprocess.PIPE, text=True)
            for src in sources]
        for src, run in zip(sources, runs, strict=True):
            out, _ = run.communicate()
            results[src].append(json.loads(out))
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    print(f"{args.workload}: {args.checks} checks x {args.rounds} rounds, evict {args.evict} "
          f"KiB, shared {args.shared or '-'}, load average {load}")
    for src, rows in results.items():
        cpu = [float(str(r["us_per_check"])) for r in rows]
        print(f"  {src}: {statistics.median(cpu):.0f} µs per check (runs {cpu}), collector "
              f"{[r['collector_us_per_check'] for r in rows]}, alerts {rows[0]['alerts']}, "
              f"redis per check {rows[0]['redis_per_check'] if args.redis else '-'}, "
              f"decisions {sorted({str(r['digest']) for r in rows})}, "
              f"compiled {rows[0]['compiled']}")
    if args.against:
        pairs = zip(results[HERE_SRC], results[args.against], strict=True)
        print("  this / other, per round:",
              [round(float(str(a["us_per_check"])) / float(str(b["us_per_check"])), 3)
               for a, b in pairs])


if __name__ == "__main__":
    main()
