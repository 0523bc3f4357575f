"""Telling a database that cannot answer from a bug: the edges answer the first with 503.

The driver's OperationalError says "not the statement's fault" on PostgreSQL (psycopg):
the server refused the connection or dropped it (restarted, network cut), is shutting
down, ran out of disk (class 53) or hit an I/O error. Python's sqlite3 raises it for
syntax errors and missing tables too, so there its result code decides: busy, locked,
out of memory, I/O error, disk full, cannot open. SQLAlchemy wraps the driver's error
(as the cause of its own), the audit log wraps that again (AuditWriteFailed: the
disclosure must not go ahead), and an error raised while cleaning up after one (a
rollback on a connection the server dropped) carries it as its context: so the whole
chain is searched. Anything else is a bug and stays a 500.
"""

from __future__ import annotations

import sqlite3

import psycopg
from sqlalchemy import exc as sa_exc

# SQLite primary result codes: BUSY, LOCKED, NOMEM, IOERR, FULL, CANTOPEN, PROTOCOL.
_SQLITE_OUTAGES = frozenset({5, 6, 7, 10, 13, 14, 15})
_MAX_DEPTH = 8


def database_unavailable(error: BaseException) -> bool:
    """True when the error, or one of its causes, says the database could not serve."""
    current: BaseException | None = error
    for _ in range(_MAX_DEPTH):  # bounded: a chain may loop back on itself
        if current is None:
            return False
        if _outage(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def _outage(error: BaseException) -> bool:
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, sqlite3.OperationalError):
        code = getattr(error, "sqlite_errorcode", None)  # absent when not from SQLite itself
        return code is not None and code & 0xFF in _SQLITE_OUTAGES
    return isinstance(error, psycopg.OperationalError)
