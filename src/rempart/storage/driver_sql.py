"""A statement compiled once by SQLAlchemy for a dialect, run as driver SQL.

For the statements run on every request or every batch (the checks' insert, the DPoP
replay insert): SQLAlchemy still writes the SQL for both dialects, and values go through
its own bind processors (how SQLite stores dates and booleans, for instance), so rows are
stored exactly as Core would store them, without Core's per-execution cost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


class DriverStatement:
    def __init__(self, statement: ClauseElement, dialect: Dialect, *,
                 column_keys: Sequence[str] | None = None) -> None:
        compiled = cast(SQLCompiler, statement.compile(
            dialect=dialect, column_keys=list(column_keys) if column_keys else None))
        self.sql = str(compiled)
        positions = compiled.positiontup if compiled.positional else None
        self._order: tuple[str, ...] | None = tuple(positions) if positions else None
        self._processors: dict[str, Any] = dict(compiled._bind_processors)
        # Positional SQL: each position's key and processor, so that a row is bound in
        # one pass over the positions (this runs for every check).
        self._positions = tuple((key, self._processors.get(key)) for key in self._order or ())

    def bind(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters for one row: a mapping, or a tuple in the SQL's order."""
        if self._order is not None:
            return tuple([value if processor is None or value is None else processor(value)
                          for key, processor in self._positions
                          for value in (values[key],)])
        processors = self._processors
        return {key: processors[key](value) if key in processors and value is not None
                else value for key, value in values.items()}
