"""Bursts of requests with a lull between them, on a served bench instance, probe-traced.

    OUT=/tmp/NAME-probe; mkdir -p $OUT
    POOLSTART_PROBE_DIR=$OUT PYTHONPATH=scripts/thread_starts:src \\
        python scripts/thread_starts/bursts.py $OUT [pg] [portal]

Three bursts (32 connections, 2 s each), 12 s apart: longer than anyio's 10 s idle
limit. `portal` sends `GET /portal/login` (a plain `def` page: anyio's pool) instead of
checks; `pg` uses the PostgreSQL bench instance (`rempart bench checks --database-url
... --database-name poolstart_bench_100000`, built first). The instance is the one of
`rempart bench checks --people 100000 --data-dir /tmp/poolstart-data`. Prints, per
burst, the load's rate and p99 and the server's thread starts on its event loop, read
from the probe's file (sitecustomize.py here, written when the server stops).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

from rempart.bench.bench_instance import ensure_bench_instance
from rempart.bench.checks_bench import CHECKS_PATH, demo_header_requests
from rempart.bench.corpus import draw_check_bodies
from rempart.bench.load import LoadFigures, LoadSpec, run_load
from rempart.bench.server import running_server

DATA_DIR = Path("/tmp/poolstart-data")  # noqa: S108 - where the documented runs built it
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
PG_NAME = "poolstart_bench_100000"
BURSTS = 3
LULL_S = 12.0


def main() -> None:
    out = Path(sys.argv[1])
    options = sys.argv[2:]
    bench = ensure_bench_instance(
        people=100_000, seed=1, data_dir=DATA_DIR, on_stage=lambda _stage: None,
        database_url=PG_URL if "pg" in options else None,
        database_name=PG_NAME if "pg" in options else None)
    bodies = draw_check_bodies(bench.instance.population_dir, count=5_000, seed=7,
                               care_date=dt.date.today())
    bursts: list[tuple[float, float, LoadFigures]] = []
    with running_server(env=bench.server_env, log_file=out / "server.log") as server:
        requests = demo_header_requests(path=CHECKS_PATH, bodies=bodies, server=server,
                                        bench=bench, seconds=2)
        if "portal" in options:
            host = f"{server.host}:{server.port}"
            requests = [f"GET /portal/login HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()]
        for turn in range(BURSTS):
            if turn:
                time.sleep(LULL_S)
            began = time.monotonic()
            figures = asyncio.run(run_load(LoadSpec(
                host=server.host, port=server.port, requests=requests, connections=32,
                seconds=2.0, warmup=0.0, first=turn * 5_000)))
            bursts.append((began, time.monotonic(), figures))
    report(_server_probe(out), bursts)


def _server_probe(out: Path) -> dict[str, Any]:
    for path in out.glob("*.json"):
        probe: dict[str, Any] = json.loads(path.read_text())
        if any("uvicorn" in arg for arg in probe["argv"]):
            return probe
    raise SystemExit("no probe file from the server: is sitecustomize.py on PYTHONPATH?")


def report(probe: dict[str, Any], bursts: list[tuple[float, float, LoadFigures]]) -> None:
    t0 = probe["t0"]
    on_loop = [start for start in probe["starts"] if start["on_loop"]]
    for turn, (began, ended, figures) in enumerate(bursts):
        starts = [s for s in on_loop if began - t0 <= s["at"] <= ended - t0]
        late = [beat["late_ms"] for beat in probe["late"]
                if began - t0 <= beat["at"] <= ended - t0]
        names = sorted({s["name"].split("_")[0] for s in starts})
        print(f"burst {turn}: {figures.per_s}/s p99 {figures.p99_ms} ms; thread starts on "
              f"the loop: {len(starts)} ({sum(s['ms'] for s in starts):.1f} ms, longest "
              f"{max([s['ms'] for s in starts], default=0):.1f}; {names}); late beats "
              f"{len(late)}, longest {max(late, default=0)} ms")
    before = [s for s in on_loop if s["at"] < bursts[0][0] - t0]
    print(f"before the first burst (build, lifespan, readiness polls): {len(before)} starts "
          f"on the loop, {sum(s['ms'] for s in before):.1f} ms")


if __name__ == "__main__":
    main()
