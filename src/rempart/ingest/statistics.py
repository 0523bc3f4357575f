"""Planner statistics refreshed after an import wrote a good share of a table.

A first load leaves PostgreSQL without statistics for the tables it filled (they were
empty when last analysed, and autovacuum comes later): at 33 million persons the
planner then guessed 191,222 rows per blind-index value, compiled every check with JIT
and ran it 300 times slower (docs/scale.md). So once an import's files are committed,
each table they wrote at least a tenth of the rows of (counting their rows together) is
analysed, in its own short transaction: once per import, not once per file, since on
PostgreSQL an ANALYZE cannot run beside the next file's writes (its lock conflicts
with theirs) and costs about as much after a small file as after a large one. Below
that the statistics stay good enough: PostgreSQL scales the row counts it knows by the
table's current size, and a blind index stays one row per value however the table
grows; its autovacuum catches up with slower drift.

An ANALYZE costs about a second at a million persons on PostgreSQL (it reads a fixed
sample, 300 x default_statistics_target rows, so the cost hardly grows after that),
which a small delta file does not pay. SQLite's reads every index whole unless
`analysis_limit` caps the rows it visits per index: with the cap an ANALYZE of a
million-person table takes milliseconds and gives row counts within a few tens of
percent, which is all its planner's choices here depend on.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from rempart.ingest.bulk import POPULATION_TABLES
from rempart.ingest.reference import SPECS

# Rows SQLite visits per index when analysing (its documented sweet spot is 100-1000).
SQLITE_ANALYSIS_LIMIT = 1000
# The share of a table's rows a file must have written for it to be analysed (as
# PostgreSQL's autovacuum_analyze_scale_factor).
WRITTEN_SHARE = 0.1
_ANALYSABLE = frozenset((*POPULATION_TABLES, *(spec.table.name for spec in SPECS.values())))


def refresh_statistics(engine: Engine, written: dict[str, int]) -> None:
    """ANALYZE each table of `written` (table name: rows the import's files inserted or
    changed) that they wrote a good share of."""
    for name in written:
        if name not in _ANALYSABLE:
            raise ValueError(f"not a table the importer writes: {name!r}")
    with engine.begin() as conn:
        names = sorted(name for name, rows in written.items()
                       if rows and rows >= WRITTEN_SHARE * _row_count(conn, name))
        sqlite = conn.dialect.name == "sqlite"
        if names and sqlite:  # a setting of this connection, put back below for the pool
            conn.exec_driver_sql(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}")
        for name in names:
            conn.exec_driver_sql(f"ANALYZE {name}")
        if names and sqlite:
            conn.exec_driver_sql("PRAGMA analysis_limit=0")


def _row_count(conn: Connection, table: str) -> int:
    """About how many rows `table` holds: its largest id (ids are handed out in order
    and the importer deletes nothing), read from the primary key's index in no time."""
    return int(conn.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {table}"  # noqa: S608
                                    ).scalar_one())
