"""Planner statistics refreshed after an import changed a table.

A first load leaves PostgreSQL without statistics for the tables it filled (they were
empty when last analysed, and autovacuum comes later): at 33 million persons the
planner then guessed 191,222 rows per blind-index value, compiled every check with JIT
and ran it 300 times slower (docs/scale.md). So after a file is committed, each table
it wrote to is analysed, in its own short transaction.

PostgreSQL's ANALYZE reads a fixed-size sample (300 x default_statistics_target rows),
so its cost hardly grows with the table. SQLite's reads every index whole unless
`analysis_limit` caps the rows it visits per index: with the cap an ANALYZE of a
million-person table takes milliseconds and gives the planner row counts within a few
tens of percent, which is all its choices here depend on.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine

from rempart.ingest.bulk import POPULATION_TABLES
from rempart.ingest.reference import SPECS

# Rows SQLite visits per index when analysing (its documented sweet spot is 100-1000).
SQLITE_ANALYSIS_LIMIT = 1000
_ANALYSABLE = frozenset((*POPULATION_TABLES, *(spec.table.name for spec in SPECS.values())))


def refresh_statistics(engine: Engine, tables: Iterable[str]) -> None:
    """ANALYZE each of `tables` (names of tables the importer writes), committed."""
    names = sorted(set(tables))
    for name in names:
        if name not in _ANALYSABLE:
            raise ValueError(f"not a table the importer writes: {name!r}")
    if not names:
        return
    with engine.begin() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # a setting of this connection, put back below for the pool
            conn.exec_driver_sql(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}")
        for name in names:
            conn.exec_driver_sql(f"ANALYZE {name}")
        if sqlite:
            conn.exec_driver_sql("PRAGMA analysis_limit=0")
