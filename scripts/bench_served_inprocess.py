"""The served app's CPU per check in process: the bench's checks driven through ASGI.

    PYTHONPATH=src python scripts/bench_served_inprocess.py SHAPE [--checks N] [--rounds R]
        [--data-dir DIR] [--database-name NAME] [--database-url URL] [--redis URL]
        [--pg-stats]

SHAPE is `embedded` (SQLite, state in memory), `pgmem` (PostgreSQL, state in memory) or
`scaled` (PostgreSQL and Redis). The app is the one a server builds
(`create_app_from_environment`, lifespan included) over the bench's instances (built by
`rempart bench checks --people 100000 ... --data-dir DIR` first), fed the bench's
requests (the same corpus, demo headers and rotation) by 32 concurrent tasks on uvloop,
no server and no socket in between. Prints one JSON line per round: the process's CPU
per check (all its threads; user and system apart), voluntary context switches per
check, checks per second and the answers' statuses; and what the servers spent per
check meanwhile, from /proc: PostgreSQL's backends on the run's database (`pg_us`),
its background processes (`pg_background_us`: WAL writer, checkpointer, autovacuum,
shared by every database) and the whole redis-server (`redis_us`: shared with anyone
else using it, so an upper bound; exact on a private server, `--redis
redis://127.0.0.1:PORT/0`), with its `INFO commandstats` per check (`redis_calls`:
calls and µs per call by command, EVALSHA's included). With `--pg-stats` (a private server whose
`shared_preload_libraries` has pg_stat_statements, the extension created in the
database of `--database-url`: the statistics are the whole server's, so no one else's
work may run on it), each round also prints, per check, PostgreSQL's statements
(`pg_stat_statements`, reset before the round: calls, execution time, rows, shared
blocks), its transactions (`pg_stat_database`) and its WAL (`pg_stat_wal`). Redis
keys are under a prefix of the run's own, deleted at the end. Several shapes or code
trees are compared by running this in turn, alternately (docs/deploy.md, "Where a
scaled-out check's CPU goes").
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop

from rempart.bench.asgi_call import call_counting
from rempart.bench.bench_instance import BenchInstance, ensure_bench_instance
from rempart.bench.checks_bench import CORPUS_SIZE, demo_check
from rempart.bench.corpus import CorpusMix, draw_check_bodies
from rempart.bench.scaled_out import shared_redis
from rempart.bench.server import process_cpu_ticks

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"
PEOPLE = 100_000
SEED = 1  # the bench's default population seed
CONCURRENCY = 32
WARMUP = 2_000


def _instance(shape: str, data_dir: Path, database_name: str, server: str) -> BenchInstance:
    return ensure_bench_instance(
        people=PEOPLE, seed=SEED, database_url=None if shape == "embedded" else server,
        database_name=None if shape == "embedded" else database_name, data_dir=data_dir,
        on_stage=lambda _text: None)


class Requests:
    """The bench's checks as ASGI scopes and bodies (checks_bench.demo_check)."""

    def __init__(self, bench: BenchInstance) -> None:
        self._bodies = draw_check_bodies(bench.instance.population_dir, count=CORPUS_SIZE,
                                         seed=SEED, care_date=dt.date.today(),
                                         mix=CorpusMix())
        self._organisations = bench.organisation_ids

    def __call__(self, i: int) -> tuple[dict[str, Any], bytes]:
        body, demo = demo_check(i, self._bodies, self._organisations)
        headers = [
            (b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *((name.encode(), value.encode()) for name, value in demo.items())]
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": "/api/v1/checks",
                 "raw_path": b"/api/v1/checks", "query_string": b"", "root_path": "",
                 "headers": headers, "client": ("127.0.0.1", 40000),
                 "server": ("127.0.0.1", 8000), "state": {}}
        return scope, body


async def _drive(app: Any, requests: Requests, start: int, n: int) -> dict[int, int]:
    statuses: dict[int, int] = {}
    numbers = iter(range(start, start + n))

    async def client() -> None:
        for i in numbers:
            scope, body = requests(i)
            await call_counting(app, scope, body, statuses)

    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    return statuses


def _ticks(pid: int) -> int:
    """A process's CPU (user and system) in clock ticks; 0 once it is gone."""
    return process_cpu_ticks(pid) or 0


Reading = dict[tuple[str, int], int]  # (what, pid): CPU in clock ticks
Commands = dict[str, tuple[int, int]]  # command: (calls, µs) since the server began


def _commandstats(redis_url: str) -> Commands:
    import redis

    with redis.Redis.from_url(redis_url) as client:
        stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"]))
            for name, v in stats.items()}


def _calls(before: Commands, after: Commands, checks: int) -> dict[str, list[float]]:
    """Per check, by command: [calls, µs]; and the µs per call."""
    out = {}
    for name, (calls, usec) in after.items():
        calls0, usec0 = before.get(name, (0, 0))
        if calls > calls0:
            out[name] = [round((calls - calls0) / checks, 2), round((usec - usec0) / checks, 1),
                         round((usec - usec0) / (calls - calls0), 1)]
    return out


def _server_cpu(shape: str, database: str, server: str, redis_url: str) -> Callable[[], Reading]:
    """A reading of the servers' processes: PostgreSQL's backends on `database`
    ("pg"), its background processes ("pg_background": shared by every database) and
    the redis-server at `redis_url` ("redis")."""
    import psycopg
    import redis

    redis_pids = []
    if shape == "scaled":
        with redis.Redis.from_url(redis_url) as client:
            redis_pids = [int(client.info("server")["process_id"])]

    def reading() -> Reading:
        found: Reading = {("redis", pid): _ticks(pid) for pid in redis_pids}
        if shape != "embedded":
            with psycopg.connect(server, autocommit=True) as conn:
                for pid, kind in conn.execute(
                        "SELECT pid, backend_type FROM pg_stat_activity WHERE datname = %s"
                        " OR backend_type <> 'client backend'", (database,)):
                    what = "pg" if kind == "client backend" else "pg_background"
                    found[(what, pid)] = _ticks(pid)
        return found

    return reading


class PgStats:
    """PostgreSQL's own statistics over a round, per check (see the module's docstring)."""

    def __init__(self, server: str, database: str) -> None:
        import psycopg

        self._conn = psycopg.connect(server, autocommit=True)
        self._database = database
        self._before: dict[str, float] = {}

    def start(self) -> None:
        self._conn.execute("SELECT pg_stat_statements_reset()")
        self._before = self._counters()

    def report(self, checks: int) -> dict[str, Any]:
        time.sleep(1.2)  # backends publish their counters at most once a second
        after = self._counters()
        found: dict[str, Any] = {
            name: round((after[name] - self._before[name]) / checks, 3) for name in after}
        statements = self._conn.execute(
            "SELECT query, calls, total_exec_time, rows, shared_blks_hit + shared_blks_read,"
            " shared_blks_dirtied, wal_records, plans, total_plan_time FROM pg_stat_statements"
            " JOIN pg_database d ON d.oid = dbid WHERE d.datname = %s"
            " ORDER BY total_exec_time DESC", (self._database,)).fetchall()
        found["statements"] = [{
            "sql": " ".join(query.split())[:70], "calls": round(calls / checks, 3),
            "exec_us": round(total * 1e3 / checks, 1),
            "mean_us": round(total * 1e3 / calls, 1) if calls else 0,
            "rows": round(rows / checks, 3), "blocks": round(blocks / checks, 2),
            "dirtied": round(dirtied / checks, 3), "wal_records": round(wal / checks, 2),
            # Planning is counted only with pg_stat_statements.track_planning on.
            "plans": round(plans / checks, 3), "plan_us": round(plan_ms * 1e3 / checks, 1)}
            for query, calls, total, rows, blocks, dirtied, wal, plans, plan_ms in statements
            if calls]
        found["statements_exec_us"] = round(sum(s["exec_us"] for s in found["statements"]), 1)
        return found

    def _counters(self) -> dict[str, float]:
        row = self._conn.execute(
            "SELECT xact_commit, xact_rollback, blks_hit, blks_read, tup_inserted,"
            " tup_updated FROM pg_stat_database WHERE datname = %s",
            (self._database,)).fetchone()
        wal = self._conn.execute(
            "SELECT wal_records, wal_fpi, wal_bytes, wal_write, wal_sync"
            " FROM pg_stat_wal").fetchone()
        names = ("xact_commit", "xact_rollback", "blks_hit", "blks_read", "tup_inserted",
                 "tup_updated", "wal_records", "wal_fpi", "wal_bytes", "wal_write", "wal_sync")
        return dict(zip(names, (float(v) for v in (*row, *wal)), strict=True))


def _spent(before: Reading, after: Reading, what: str) -> float:
    """µs of CPU `what` spent between two readings (a process that began meanwhile from
    nothing; one that ended meanwhile is not counted)."""
    ticks = sum(t - before.get(key, 0) for key, t in after.items() if key[0] == what and t)
    return ticks * 1e6 / os.sysconf("SC_CLK_TCK")


async def _measure(shape: str, requests: Requests, checks: int, rounds: int,
                   database: str, server: str, pg_stats: bool, redis_url: str) -> None:
    from rempart.web.asgi import create_app_from_environment

    servers = _server_cpu(shape, database, server, redis_url)
    stats = PgStats(server, database) if pg_stats and shape != "embedded" else None
    scaled = shape == "scaled"
    app = create_app_from_environment()
    async with app.router.lifespan_context(app):
        await _drive(app, requests, 0, WARMUP)
        start = WARMUP
        for number in range(rounds):
            if stats is not None:
                stats.start()
            servers_before = servers()
            commands_before = _commandstats(redis_url) if scaled else {}
            before, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            statuses = await _drive(app, requests, start, checks)
            wall = time.perf_counter() - wall
            after = resource.getrusage(resource.RUSAGE_SELF)
            servers_after = servers()
            commands_after = _commandstats(redis_url) if scaled else {}
            start += checks
            user = (after.ru_utime - before.ru_utime) / checks * 1e6
            system = (after.ru_stime - before.ru_stime) / checks * 1e6
            print(json.dumps({
                "shape": shape, "round": number, "cpu_us": round(user + system, 1),
                "user_us": round(user, 1), "sys_us": round(system, 1),
                "voluntary_switches": round((after.ru_nvcsw - before.ru_nvcsw) / checks, 2),
                "per_s": round(checks / wall, 1), "statuses": statuses,
                **{f"{what}_us": round(_spent(servers_before, servers_after, what) / checks, 1)
                   for what in ("pg", "pg_background", "redis")},
                "redis_calls": _calls(commands_before, commands_after, checks),
                "load": os.getloadavg()[0]}), flush=True)
            if stats is not None:
                print(json.dumps({"round": number, "pg": stats.report(checks)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("shape", choices=["embedded", "pgmem", "scaled"])
    parser.add_argument("--checks", type=int, default=3_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database-name", default="rempart_bench_checks_100000")
    parser.add_argument("--database-url", default=POSTGRES,
                        help="the PostgreSQL server (a private one to read its statistics alone)")
    parser.add_argument("--pg-stats", action="store_true",
                        help="PostgreSQL's statements, transactions and WAL per check")
    parser.add_argument("--redis", default=REDIS,
                        help="the Redis of the `scaled` shape (a private one: exact figures)")
    args = parser.parse_args()
    bench = _instance(args.shape, args.data_dir, args.database_name, args.database_url)
    requests = Requests(bench)
    with shared_redis(args.redis if args.shape == "scaled" else None) as redis:
        os.environ.update({**bench.server_env, **redis.env, "REMPART_WORKERS": "1"})
        uvloop.run(_measure(args.shape, requests, args.checks, args.rounds,
                           args.database_name, args.database_url, args.pg_stats,
                           args.redis))


if __name__ == "__main__":
    main()
