"""Taking SQLite's write lock without waiting for it.

A writer on the event loop must never wait for another connection's write lock: the
whole process would stop answering for as long as the busy timeout (10 s). `begin_if_free`
starts a write transaction only if the lock can be had at once, so that the caller
writes on the loop when nobody else is writing and hands the work to a thread when
somebody is. Once the lock is held, a WAL-mode transaction does not wait again: its
inserts and its commit take no other lock (checkpoints aside, which the check journal
defers).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import Connection

_LOCKED = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def begin_if_free(conn: Connection) -> bool:
    """BEGIN IMMEDIATE on `conn` if the write lock is free now: True with the lock held
    (the transaction is the connection's until its commit or rollback), False if
    another connection holds it (nothing begun)."""
    driver: Any = conn.connection.dbapi_connection  # pysqlite: the driver itself
    previous = int(driver.execute("PRAGMA busy_timeout").fetchone()[0])
    driver.execute("PRAGMA busy_timeout=0")
    try:
        driver.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode in _LOCKED:
            return False
        raise
    finally:
        driver.execute(f"PRAGMA busy_timeout={previous}")
    return True
