"""What the suspension keys cost the guard's Redis state on every check.

    .venv/bin/python scripts/bench_guard_state.py [--redis redis://127.0.0.1:6379/0]

Times RedisGuardState.load_pair (the state and its two suspension keys: four keys in
one MGET, sent as one of the guard's trips, rempart.guard.redis_trips) beside a plain
redis-py MGET of the two state keys alone (the read before the suspension keys and the
trips), in alternated rounds, as CPU and wall time per call. Since the trips, the
difference measures both changes together, not the suspension keys alone. Uses a key
prefix of its own and deletes its keys; prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable

import redis

from rempart.guard import codec
from rempart.guard.profile import AccountProfile, SessionState
from rempart.guard.redis_state import RedisGuardState

ROUNDS = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--calls", type=int, default=2000, help="calls per round")
    args = parser.parse_args()
    prefix = f"rempart-bench-{uuid.uuid4().hex[:8]}"
    state = RedisGuardState.connect(args.redis, prefix=prefix)
    client = redis.Redis.from_url(args.redis)
    state.save_pair("a1", AccountProfile.new(time.time()), "s1",
                    SessionState(account_id="a1", device="d", block="b", network=None,
                                 started=0.0, last=0.0))
    state_keys = [state._account_keys("a1")[0], state._session_keys("s1")[0]]

    def state_only() -> object:
        account, session = client.mget(state_keys)
        return codec.load_account(account), codec.load_session(session)

    def with_suspensions() -> object:
        return state.load_pair("a1", "s1")

    try:
        timed: dict[str, list[tuple[float, float]]] = {"state only": [], "with suspensions": []}
        sides: list[tuple[str, Callable[[], object]]] = [
            ("state only", state_only), ("with suspensions", with_suspensions)]
        for number in range(ROUNDS):
            for name, read in sides if number % 2 == 0 else sides[::-1]:
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(args.calls):
                    read()
                timed[name].append(((time.process_time() - cpu) / args.calls * 1e6,
                                    (time.perf_counter() - wall) / args.calls * 1e6))
    finally:
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
    medians = {name: (statistics.median(c for c, _ in rounds),
                      statistics.median(w for _, w in rounds))
               for name, rounds in timed.items()}
    for name, (cpu, wall) in medians.items():
        print(f"{name}: {cpu:.1f} µs CPU, {wall:.1f} µs wall per load_pair (median of "
              f"{ROUNDS} rounds of {args.calls})")
    before, after = medians["state only"], medians["with suspensions"]
    print(f"with/without: CPU {after[0] / before[0]:.3f}, wall {after[1] / before[1]:.3f}")


if __name__ == "__main__":
    main()
