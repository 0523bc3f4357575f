"""Telling a database that cannot answer from a bug: the edges answer the first with 503.

PEP 249's OperationalError is the driver's word for "not the statement's fault": the
server refused the connection or dropped it (restarted, network cut), shut down, ran
out of disk (PostgreSQL's class 53, SQLite's "database or disk is full") or stayed
locked past the busy timeout. SQLAlchemy wraps it in its own OperationalError, and the
audit log and the check journal wrap that again (AuditWriteFailed: the disclosure must
not go ahead), so the whole chain of causes is searched. Anything else is a bug and
stays a 500.
"""

from __future__ import annotations

import sqlite3

import psycopg
from sqlalchemy import exc as sa_exc

_OPERATIONAL = (sa_exc.OperationalError, psycopg.OperationalError, sqlite3.OperationalError)
_MAX_DEPTH = 8


def database_unavailable(error: BaseException) -> bool:
    """True when the error, or one of its causes, says the database could not serve."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and len(seen) < _MAX_DEPTH:
        seen.add(id(current))
        if isinstance(current, _OPERATIONAL):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False
