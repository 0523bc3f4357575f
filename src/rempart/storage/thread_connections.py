"""Driver connections kept one per thread, outside SQLAlchemy's pool, for the statements
run on every request (the check's look-ups, the DPoP replay insert): no pool checkout,
no result objects, no rollback at check-in. Each is closed with its owner, or dropped
at once when its owner finds it broken.

`connection()` hands out the same driver connection wrapped for SQLAlchemy, for writes
that must go through Core's machinery (its events, its transaction) on the very
connection that the thread reads with: on SQLite, a commit made by another connection
empties the reader's page cache, one made on its own connection does not.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from sqlalchemy import Connection, Engine


class ThreadConnections:
    def __init__(self, engine: Engine, *, autocommit: bool = False) -> None:
        self._engine = engine
        # SQLite's driver begins a transaction only before a write: nothing to switch.
        self._autocommit = autocommit and engine.dialect.name != "sqlite"
        self._local = threading.local()
        self._held: list[Any] = []  # every thread's connection, closed with this object
        weakref.finalize(self, _close_all, self._held)

    def get(self) -> Any:
        """This thread's driver (DBAPI) connection, made on first use."""
        return self._this_thread().dbapi_connection

    def connection(self) -> Connection:
        """This thread's connection as an SQLAlchemy `Connection` (never to be closed by
        the caller: it stays this thread's, like the driver connection it wraps)."""
        wrapped: Connection | None = getattr(self._local, "wrapped", None)
        if wrapped is None:
            wrapped = self._local.wrapped = Connection(self._engine, connection=self._this_thread())
        return wrapped

    def _this_thread(self) -> Any:
        held = getattr(self._local, "connection", None)
        if held is None:
            held = self._engine.raw_connection()
            held.detach()  # the thread's own for its life: never back in the pool
            if self._autocommit:
                driver: Any = held.dbapi_connection
                driver.autocommit = True
            self._local.connection = held
            self._held.append(held)
        return held

    def discard(self) -> None:
        """Drop this thread's connection (whatever state it is in); the next get() opens
        a new one."""
        held = getattr(self._local, "connection", None)
        self._local.connection = self._local.wrapped = None
        if held is not None:
            self._held.remove(held)
            held.invalidate()

    def close(self) -> None:
        _close_all(self._held)


def _close_all(held: list[Any]) -> None:
    while held:
        held.pop().close()
