"""SQLite WAL checkpoints kept off the check's commit path.

By default a SQLite commit that brings the write-ahead log past 1,000 pages copies the
log back into the database file, with its fsyncs, before returning: about half of what
inserting a check row costs on a large database (docs/performance.md), paid by
whichever check happens to commit then. The journal's commits are made with automatic
checkpoints off (restored to the connection's own setting right after, since pooled
connections serve other writers too), and a PASSIVE checkpoint, which never blocks
writers or readers, runs from another thread at most once a second, after a batch has
been answered. Other writers keep SQLite's automatic checkpoints, so the log stays
bounded even when no check is made. Nothing happens on other databases. A checkpoint that
fails (a full disk) is logged and left to the next one.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

log = structlog.get_logger(__name__)
CHECKPOINT_EVERY_S = 1.0


class WalCheckpointer:
    def __init__(self, engine: Engine, *, every_s: float = CHECKPOINT_EVERY_S) -> None:
        self._engine = engine
        self._enabled = engine.dialect.name == "sqlite"
        self._every_s = every_s
        self._last = time.monotonic()
        self._lock = threading.Lock()  # one checkpoint at a time
        self._running: asyncio.Future[None] | None = None  # held: not collected mid-run

    @contextmanager
    def deferred(self, conn: Connection) -> Iterator[None]:
        """Commits made on `conn` inside the block do not checkpoint."""
        if not self._enabled:
            yield
            return
        # On the driver connection: not an SQL statement of the check, and no transaction.
        driver: Any = conn.connection.dbapi_connection  # pysqlite: the driver itself
        previous = driver.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        driver.execute("PRAGMA wal_autocheckpoint=0")
        try:
            yield
        finally:
            driver.execute(f"PRAGMA wal_autocheckpoint={int(previous)}")

    def run_when_due(self) -> None:
        """Start a passive checkpoint in a worker thread if the last one is old enough."""
        if not self._enabled or time.monotonic() - self._last < self._every_s:
            return
        if self._running is not None and not self._running.done():
            return
        self._last = time.monotonic()
        self._running = asyncio.get_running_loop().run_in_executor(None, self.checkpoint)

    def checkpoint(self) -> None:
        if not self._lock.acquire(blocking=False):
            return
        try:
            with self._engine.connect() as conn:
                driver: Any = conn.connection.driver_connection
                driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except (sqlite3.Error, SQLAlchemyError) as exc:
            # A full disk, say: the log keeps its pages and a later checkpoint copies them.
            # Nobody waits on this thread, so it is said here or nowhere.
            log.warning("wal checkpoint failed", error_type=type(exc).__name__)
        finally:
            self._lock.release()
