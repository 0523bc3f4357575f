"""The check's statements alone on one PostgreSQL connection: what the wire format costs.

    python scripts/bench_pg_wire.py lookup|insert --database-url URL [--pairs N]

URL names the bench's instance database (`rempart bench checks --people 100000
--database-url ... --data-dir ...` built it) on a private server whose
`shared_preload_libraries` has pg_stat_statements (the look-up's SQL is taken from its
view, so run `scripts/bench_served_inprocess.py pgmem` on it once first). Each pair runs
both variants in turn on the same connection and prints the backend's CPU (from /proc)
and this process's CPU per statement (`lookup`) or per row (`insert`):

- `lookup`: the check's SELECT (autocommit, prepared by psycopg after 5 runs) with text
  results, as `rempart.coverage.raw_reader` reads it, against binary results (tried,
  not kept);
- `insert`: batches of 12 check rows in a pipelined transaction (executemany, as the
  journal does) with `RETURNING id`, as SQLAlchemy compiled it before, against without.
  The rows go to a scratch copy of `checks` (with its foreign key), dropped at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from rempart.bench.server import process_cpu_ticks

TCK = os.sysconf("SC_CLK_TCK")
COLUMNS = ("reference, organisation_id, account_id, professional_id, beneficiary_id,"
           " guarantee_id, category, care_date, outcome, covered, third_party, created_at")
BATCH = 12


def _ticks(pid: int) -> int:
    ticks = process_cpu_ticks(pid)
    if ticks is None:
        raise SystemExit(f"backend {pid} has ended")
    return ticks


def _measure(conn: psycopg.Connection, run: Callable[[], int]) -> tuple[float, float]:
    """(backend µs, client µs) per unit of `run` (which returns its units)."""
    pid = conn.info.backend_pid
    ticks, own = _ticks(pid), time.process_time()
    units = run()
    return ((_ticks(pid) - ticks) * 1e6 / TCK / units,
            (time.process_time() - own) * 1e6 / units)


def _lookups(conn: psycopg.Connection) -> dict[str, Callable[[], int]]:
    found = conn.execute("SELECT query FROM pg_stat_statements"
                         " WHERE query LIKE 'SELECT beneficiaries.id%' LIMIT 1").fetchone()
    if found is None:
        raise SystemExit("run bench_served_inprocess.py pgmem on this server first")
    sql = re.sub(r"\$(\d+)", lambda m: f"%(p{m.group(1)})s", found[0])
    people = conn.execute("SELECT identity_idx, member_idx FROM beneficiaries"
                          " ORDER BY id LIMIT 5000").fetchall()
    categories = ("pharmacy", "optical", "dental", "consultation")
    params = [{"p1": 0, "p2": -1, "p3": categories[i % 4], "p4": "accepted", "p5": "paid",
               "p6": dt.date.today(), "p7": 0, "p8": 1, "p9": ident, "p10": member}
              for i, (ident, member) in enumerate(people)]

    def variant(binary: bool) -> Callable[[], int]:
        def run() -> int:
            cursor = conn.cursor(binary=binary)
            for values in params:
                cursor.execute(sql, values).fetchall()
            return len(params)
        return run

    return {"text": variant(False), "binary": variant(True)}


def _inserts(conn: psycopg.Connection) -> dict[str, Callable[[], int]]:
    conn.execute("DROP TABLE IF EXISTS bench_pg_wire_checks")
    conn.execute("CREATE TABLE bench_pg_wire_checks (LIKE checks INCLUDING ALL)")
    conn.execute("ALTER TABLE bench_pg_wire_checks ADD FOREIGN KEY (organisation_id)"
                 " REFERENCES organisations (id)")
    organisation = conn.execute("SELECT min(id) FROM organisations").fetchone()[0]  # type: ignore[index]
    now = dt.datetime.now(dt.UTC)
    values = ", ".join(["%s"] * 12)

    def variant(returning: str) -> Callable[[], int]:
        sql = (f"INSERT INTO bench_pg_wire_checks ({COLUMNS})"  # noqa: S608 - constants
               f" VALUES ({values}){returning}")

        def run() -> int:
            batches = [[(uuid.uuid4().hex, organisation, None, None, 5, 7, "optical",
                         dt.date.today(), "covered", True, False, now)
                        for _ in range(BATCH)] for _ in range(400)]
            for rows in batches:
                with conn.pipeline():
                    cursor = conn.cursor()
                    cursor.execute("BEGIN")
                    cursor.executemany(sql, rows)
                    cursor.execute("COMMIT")
            return len(batches) * BATCH
        return run

    return {"returning": variant(" RETURNING id"), "none": variant("")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["lookup", "insert"])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--pairs", type=int, default=4)
    args = parser.parse_args()
    conn: psycopg.Connection[Any] = psycopg.connect(args.database_url, autocommit=True)
    variants = _lookups(conn) if args.what == "lookup" else _inserts(conn)
    try:
        for run in variants.values():
            run()  # warm: caches, prepared statements
        for pair in range(args.pairs):
            line = [f"pair {pair + 1}"]
            for name, run in variants.items():
                backend, client = _measure(conn, run)
                line.append(f"{name}: backend {backend:5.1f} client {client:5.1f} µs")
            print(" | ".join(line) + f" | load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        if args.what == "insert":
            conn.execute("DROP TABLE bench_pg_wire_checks")


if __name__ == "__main__":
    main()
