"""Read-only statements of the check path, compiled once and run on a raw DBAPI connection.

A check's SELECT is the hot path of the whole service. Through an SQLAlchemy
`Connection` it pays for a pool checkout, a result object and a rollback at check-in;
here the statement is compiled once (SQLAlchemy Core still writes the SQL, for both
dialects) and run on a driver connection that each thread keeps:

- SQLite: Python's sqlite3 begins a transaction only before a write, so each SELECT
  reads the latest committed state (WAL), with no transaction to end;
- PostgreSQL: the connection is in autocommit, so a SELECT is one round trip, without
  BEGIN and ROLLBACK around it.

Values come back as the driver gives them; `decode_date` and `decode_bool` turn
SQLite's text dates and integer booleans into what PostgreSQL already returns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Engine
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from rempart.storage.thread_connections import ThreadConnections


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    sql: str
    order: tuple[str, ...] | None  # parameter names in order (positional paramstyles)
    fixed: Mapping[str, Any]  # values the statement itself carries (literals)

    def bind(self, params: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        merged = {**self.fixed, **params} if self.fixed else params
        if self.order is None:
            return merged
        return [merged[name] for name in self.order]


class RawReader:
    def __init__(self, engine: Engine, *, connections: ThreadConnections | None = None) -> None:
        """`connections`: the threads' connections, when the caller also writes through
        them (the check journal on SQLite); by default the reader's own."""
        self._engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self._connections = connections or ThreadConnections(engine, autocommit=True)

    def compile(self, statement: ClauseElement) -> CompiledQuery:
        compiled = cast(SQLCompiler, statement.compile(dialect=self._engine.dialect))
        order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup \
            else None
        fixed = {name: value for name, value in compiled.params.items() if value is not None}
        return CompiledQuery(sql=str(compiled), order=order, fixed=fixed)

    def fetchall(self, query: CompiledQuery, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        bound = query.bind(self._bind_values(params))
        connection = self._connections.get()
        try:
            return self._fetch(connection, query.sql, bound)
        except self._engine.dialect.loaded_dbapi.Error as exc:
            # A broken connection (server restarted, network cut): drop it, try once more.
            if not self._engine.dialect.is_disconnect(exc, connection, None):
                raise
            self._connections.discard()
            return self._fetch(self._connections.get(), query.sql, bound)

    def _fetch(self, connection: Any, sql: str, bound: Any) -> list[tuple[Any, ...]]:
        cursor = connection.cursor()
        try:
            # The engine's statement listeners (tracing, tests counting statements) see
            # these statements as they see every other; without listeners this is free.
            for listener in self._engine.dispatch.before_cursor_execute:
                listener(None, cursor, sql, bound, None, False)
            cursor.execute(sql, bound)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def _bind_values(self, params: Mapping[str, Any]) -> Mapping[str, Any]:
        if not self.sqlite:
            return params
        # SQLAlchemy stores SQLite dates as ISO text; compare with the same text.
        return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in params.items()}

    def close(self) -> None:
        self._connections.close()


def decode_date(value: Any) -> dt.date | None:
    """A date column's value from either driver (SQLite gives ISO text)."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value)


def decode_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)
