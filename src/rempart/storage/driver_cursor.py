"""Statements on the driver's own cursor, inside the caller's transaction.

For the statements of every group commit: the audit append's three (claim positions,
insert the rows, store the head hash) and the check journal's insert of its rows.
Through SQLAlchemy's `exec_driver_sql` each paid several times what the
driver took to run it (an execution context, a result object; about 80-160 µs a
statement against 14-40 µs on the cursor, SQLite in memory, load 11), once per batch:
at the small batches of a lightly loaded server, tens of µs per check. Here they run on
the cursor of the connection's DBAPI connection, so they stay in the same transaction;
the engine's statement listeners still see them (tests count statements), and a driver
error is raised as SQLAlchemy would have raised it (`DBAPIError.instance`), so callers
and the outage classification see the same exceptions as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError


class DriverCursor:
    """A cursor on `conn`'s driver connection; use as a context manager."""

    def __init__(self, conn: Connection) -> None:
        if not conn.in_transaction():
            # What exec_driver_sql would have done (autobegin): the caller's commit must
            # commit these writes even if nothing else ran on the connection first.
            conn.begin()
        self._conn = conn
        self._dbapi_error: type[Exception] = conn.dialect.loaded_dbapi.Error
        self._cursor: Any = conn.connection.cursor()

    def __enter__(self) -> DriverCursor:
        return self

    def __exit__(self, _type: type[BaseException] | None, _exc: BaseException | None,
                 _tb: TracebackType | None) -> None:
        self._cursor.close()

    def fetchone(self, sql: str, params: Sequence[Any]) -> Any:
        self._run(sql, params, many=False)
        return self._cursor.fetchone()

    def execute(self, sql: str, params: Sequence[Any]) -> None:
        self._run(sql, params, many=False)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._run(sql, rows, many=True)

    def _run(self, sql: str, params: Any, *, many: bool) -> None:
        for listener in self._conn.dispatch.before_cursor_execute:
            listener(self._conn, self._cursor, sql, params, None, many)
        try:
            if many:
                self._cursor.executemany(sql, params)
            else:
                self._cursor.execute(sql, params)
        except self._dbapi_error as exc:
            raise DBAPIError.instance(sql, None, exc, self._dbapi_error,
                                      hide_parameters=True,
                                      dialect=self._conn.dialect) from exc
