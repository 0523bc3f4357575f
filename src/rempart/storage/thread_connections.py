"""Driver connections kept one per thread, outside SQLAlchemy's pool, for the statements
run on every request (the check's look-ups, the DPoP replay insert): no pool checkout,
no result objects, no rollback at check-in. Each is closed when its thread ends, with
its owner, or at once when its owner finds it broken.

Closed when its thread ends: a thread that ends leaves no connection behind. They were
kept until their owner closed, so every thread that came and went left one open: an app
whose worker threads end and start again (anyio's idle ones after 10 s where the app's
lifespan did not run, one per request under httpx's ASGITransport, where each request is
its own root task) opened a PostgreSQL connection per thread, hence per request, until
the server refused new clients ("too many clients"). A thread's storage in a
`threading.local` is released when the thread ends; the connection's holder lives
there only, and its finalizer closes the connection.

`connection()` hands out the same driver connection wrapped for SQLAlchemy, for writes
that must go through Core's machinery (its events, its transaction) on the very
connection that the thread reads with: on SQLite, a commit made by another connection
empties the reader's page cache, one made on its own connection does not.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from contextlib import suppress
from typing import Any

from sqlalchemy import Connection, Engine


class _Held:
    """One thread's connection, referenced from that thread's local storage only."""

    __slots__ = ("__weakref__", "connection", "number", "wrapped")

    def __init__(self, number: int, connection: Any) -> None:
        self.number = number  # its key in the owner's `_held`
        self.connection = connection  # SQLAlchemy's detached pool entry
        self.wrapped: Connection | None = None


class ThreadConnections:
    def __init__(self, engine: Engine, *, autocommit: bool = False) -> None:
        self._engine = engine
        # SQLite's driver begins a transaction only before a write: nothing to switch.
        self._autocommit = autocommit and engine.dialect.name != "sqlite"
        self._local = threading.local()
        # Every live thread's connection by number, closed with this object; a thread's
        # entry leaves when the thread ends (its holder's finalizer closes it).
        self._held: dict[int, Any] = {}
        self._numbers = itertools.count()
        weakref.finalize(self, _close_all, self._held)

    def get(self) -> Any:
        """This thread's driver (DBAPI) connection, made on first use."""
        return self._this_thread().connection.dbapi_connection

    def connection(self) -> Connection:
        """This thread's connection as an SQLAlchemy `Connection` (never to be closed by
        the caller: it stays this thread's, like the driver connection it wraps)."""
        held = self._this_thread()
        if held.wrapped is None:
            held.wrapped = Connection(self._engine, connection=held.connection)
        return held.wrapped

    def _this_thread(self) -> _Held:
        held: _Held | None = getattr(self._local, "held", None)
        if held is None:
            connection = self._engine.raw_connection()
            connection.detach()  # the thread's own for its life: never back in the pool
            if self._autocommit:
                driver: Any = connection.dbapi_connection
                driver.autocommit = True
            number = next(self._numbers)
            self._held[number] = connection
            held = self._local.held = _Held(number, connection)
            # Runs when the thread ends and its local storage goes (or at discard).
            weakref.finalize(held, _close_one, self._held, number)
        return held

    def discard(self) -> None:
        """Drop this thread's connection (whatever state it is in); the next get() opens
        a new one."""
        held: _Held | None = getattr(self._local, "held", None)
        self._local.held = None
        if held is None:
            return
        self._held.pop(held.number, None)
        connection = held.connection
        driver = connection.dbapi_connection
        # Invalidating a detached entry forgets the driver connection without closing
        # it (no pool record to close it): closed here, errors and all.
        connection.invalidate()
        _close_driver(driver)

    def close(self) -> None:
        _close_all(self._held)


def _close_one(held: dict[int, Any], number: int) -> None:
    connection = held.pop(number, None)  # atomic: the owner's close may race a thread's end
    if connection is not None:
        _close_quietly(connection)


def _close_all(held: dict[int, Any]) -> None:
    while held:
        try:
            _, connection = held.popitem()
        except KeyError:  # emptied meanwhile by a thread's end
            return
        _close_quietly(connection)


def _close_quietly(connection: Any) -> None:
    # A connection the server already dropped may raise on close: nothing more to free,
    # and a finalizer's error would only be printed.
    with suppress(Exception):
        connection.close()


def _close_driver(driver: Any) -> None:
    if driver is not None:
        with suppress(Exception):
            driver.close()
