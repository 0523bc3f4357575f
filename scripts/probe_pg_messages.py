"""PostgreSQL backends' CPU per protocol message, over a window of the served in-process bench.

    PYTHONPATH=src python scripts/probe_pg_messages.py --database-url URL \
        [--database-name NAME] [--data-dir DIR] [--seconds S]

Runs `scripts/bench_served_inprocess.py pgmem` against a PRIVATE PostgreSQL server (it
turns `log_statement_stats` and `log_statement = 'all'` on with ALTER SYSTEM for a few
seconds once the bench is warm, then resets them: never point it at a shared server)
and reads the server's log (`--log`, where the server writes its stderr; the log line
prefix must start with `%m [%p] `). Each BIND and EXECUTE message's CPU (getrusage, as
the server logs it) is summed by statement and divided by the checks committed in the
window; beside it, the backends' CPU from /proc over the same window. The logging
itself costs the backends CPU, so the figures are larger than in an unlogged run: read
the shares. A SELECT's BIND includes its executor start-up (PostgreSQL starts a
portal's executor when it binds it); an INSERT's starts in its EXECUTE.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from rempart.bench.server import process_cpu_ticks

SCRIPT = Path(__file__).with_name("bench_served_inprocess.py")
TCK = os.sysconf("SC_CLK_TCK")


def _backends(admin: psycopg.Connection, database: str, own: int) -> dict[int, int]:
    """CPU ticks of the client backends on `database` (other than `own`)."""
    found = {}
    for (pid,) in admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s"
            " AND backend_type = 'client backend' AND pid <> %s", (database, own)):
        ticks = process_cpu_ticks(pid)
        if ticks is not None:
            found[pid] = ticks
    return found


def _logging(admin: psycopg.Connection, on: bool) -> None:
    for name, value in (("log_statement_stats", "on"), ("log_statement", "'all'")):
        admin.execute(f"ALTER SYSTEM SET {name} = {value}" if on
                      else f"ALTER SYSTEM RESET {name}")
    admin.execute("SELECT pg_reload_conf()")


def _per_message(text: str) -> tuple[collections.Counter[tuple[str, str]],
                                     collections.Counter[tuple[str, str]]]:
    """µs of CPU and counts by (message, statement) from the server's log."""
    kind_of: dict[str, str | None] = {}
    used: dict[str, float] = {}
    cpu: collections.Counter[tuple[str, str]] = collections.Counter()
    count: collections.Counter[tuple[str, str]] = collections.Counter()
    for block in re.split(r"\n(?=\d{4}-\d\d-\d\d )", text):
        found = re.match(r"\S+ \S+ \S+ \[(\d+)\] (LOG|DETAIL|STATEMENT):\s+(.*)", block, re.S)
        if not found:
            continue
        pid, what, body = found.groups()
        if what == "LOG":
            stats = re.match(r"(\w+) (MESSAGE )?STATISTICS", body)
            kind_of[pid] = stats.group(1) if stats else None
        elif what == "DETAIL" and kind_of.get(pid):
            usage = re.search(r"([\d.]+) s user, ([\d.]+) s system", block)
            if usage:
                used[pid] = (float(usage.group(1)) + float(usage.group(2))) * 1e6
        elif what == "STATEMENT" and pid in used:
            key = (kind_of[pid] or "?", " ".join(body.split())[:44])
            cpu[key] += used.pop(pid)
            count[key] += 1
            kind_of[pid] = None
    return cpu, count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True, help="the private server")
    parser.add_argument("--database-name", default="rempart_bench_checks_100000")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True, help="the server's log file")
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    admin = psycopg.connect(args.database_url, autocommit=True)
    server = psycopg.conninfo.conninfo_to_dict(args.database_url)
    db = psycopg.connect(**{**server, "dbname": args.database_name}, autocommit=True)
    bench = subprocess.Popen(  # noqa: S603 - this interpreter, the bench script
        [sys.executable, str(SCRIPT), "pgmem", "--checks", "20000", "--rounds", "1",
         "--data-dir", str(args.data_dir), "--database-name", args.database_name,
         "--database-url", args.database_url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while len(_backends(admin, args.database_name, db.info.backend_pid)) < 4:
            time.sleep(0.5)
        time.sleep(6)  # past the bench's warm-up
        _logging(admin, True)
        try:
            time.sleep(0.5)
            offset = args.log.stat().st_size
            checks_before = db.execute("SELECT count(*) FROM checks").fetchone()
            ticks_before = _backends(admin, args.database_name, db.info.backend_pid)
            time.sleep(args.seconds)
            checks_after = db.execute("SELECT count(*) FROM checks").fetchone()
            ticks_after = _backends(admin, args.database_name, db.info.backend_pid)
            end = args.log.stat().st_size
        finally:
            _logging(admin, False)
    finally:
        bench.terminate()
        bench.wait()
    checks = checks_after[0] - checks_before[0]  # type: ignore[index]
    backends = sum(t - ticks_before.get(pid, t) for pid, t in ticks_after.items())
    with args.log.open("rb") as log:
        log.seek(offset)
        text = log.read(end - offset).decode(errors="replace")
    cpu, count = _per_message(text)
    print(f"checks {checks}; backends' CPU {backends * 1e6 / TCK / checks:.1f} µs per check"
          f" (from /proc); load {os.getloadavg()[0]:.1f}")
    for (kind, sql), spent in cpu.most_common():
        if count[kind, sql] / checks >= 0.01:
            print(f"  {kind:8s} {sql:44s} {count[kind, sql] / checks:6.3f} a check"
                  f"  {spent / checks:7.1f} µs a check  {spent / count[kind, sql]:7.1f} each")
    print(f"  all messages: {sum(cpu.values()) / checks:.1f} µs a check")


if __name__ == "__main__":
    main()
