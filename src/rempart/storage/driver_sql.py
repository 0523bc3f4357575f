"""A statement compiled once by SQLAlchemy for a dialect, run as driver SQL.

For the statements run on every request or every batch (the checks' insert, the DPoP
replay insert): SQLAlchemy still writes the SQL for both dialects, and values go through
its own bind processors (how SQLite stores dates and booleans, for instance), so rows are
stored exactly as Core would store them, without Core's per-execution cost.

Rows of a batch go in as one multi-row INSERT rather than an `executemany`: SQLite's
driver gives up the GIL for every row of an `executemany`, and a commit made in a
worker thread must win it back from the busy event loop each time
(docs/performance.md, "Where a check's time goes").
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

# 500 rows of 13 columns stay far below the bound parameters a statement may carry
# (32,766 on SQLite since 3.32, 65,535 on PostgreSQL).
MAX_ROWS_PER_INSERT = 500


class DriverStatement:
    def __init__(self, statement: ClauseElement, dialect: Dialect, *,
                 column_keys: Sequence[str] | None = None) -> None:
        compiled = cast(SQLCompiler, statement.compile(
            dialect=dialect, column_keys=list(column_keys) if column_keys else None))
        self.sql = str(compiled)
        positions = compiled.positiontup if compiled.positional else None
        self._order: tuple[str, ...] | None = tuple(positions) if positions else None
        self._processors: dict[str, Any] = dict(compiled._bind_processors)

    def bind(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters for one row: a mapping, or a tuple in the SQL's order."""
        processors = self._processors
        converted = {key: processors[key](value) if key in processors and value is not None
                     else value for key, value in values.items()}
        if self._order is None:
            return converted
        return tuple(converted[key] for key in self._order)

    def insert_rows(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run this one-row INSERT for every row: multi-row statements where the driver
        takes positional parameters, its `executemany` where it takes named ones."""
        params = [self.bind(row) for row in rows]
        if self._order is None:
            conn.exec_driver_sql(self.sql, params)
        else:
            insert_rows(conn, self.sql, params)


def insert_rows(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run a one-row `INSERT ... VALUES (...)` with positional parameters for every row,
    as few multi-row statements."""
    for start in range(0, len(rows), MAX_ROWS_PER_INSERT):
        chunk = rows[start:start + MAX_ROWS_PER_INSERT]
        conn.exec_driver_sql(_multi_row(sql, len(chunk)),
                             tuple(itertools.chain.from_iterable(chunk)))


@functools.lru_cache(maxsize=1024)  # batch sizes repeat: each size's SQL built once
def _multi_row(sql: str, rows: int) -> str:
    head, values, group = sql.rpartition(" VALUES ")
    if not values:
        raise ValueError("not an INSERT ... VALUES (...) statement")
    return head + values + ", ".join([group] * rows)
