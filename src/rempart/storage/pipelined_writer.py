"""Group commits on PostgreSQL in two round trips, on a connection the thread already holds.

The check journal's commit on PostgreSQL took seven round trips per batch through a
pooled connection: the pool's liveness ping, BEGIN, the checks' INSERT, the audit head's
UPDATE ... RETURNING, the audit entries' INSERT, the head hash's UPDATE and COMMIT. Each
one is a wait on the network and, for a worker thread, the GIL to win back from the
event loop and the look-up threads afterwards, so a batch spent several milliseconds of
wall time to carry about a hundred microseconds of the server's work, and every check
waited for it (docs/deploy.md, "Throughput of the scaled-out shape").

Here a batch is written in psycopg's pipeline mode on the connection that the worker
thread keeps for the checks' look-ups (`ThreadConnections`, autocommit at the driver:
the transaction is opened and closed by explicit BEGIN and COMMIT sent in the
pipeline), so the commit needs no connection of its own:

1. BEGIN, every statement of the batch up to the first one whose result the writer
   needs (the audit head's UPDATE ... RETURNING: the chain's hashes are computed from
   it), sent together, then its result read: one round trip;
2. the remaining statements and COMMIT, sent together, then the pipeline's sync: one
   round trip.

The transaction is the same transaction as before (same statements, same order, the
head row locked from its UPDATE to the COMMIT, which is now one round trip instead of
three), and it goes through SQLAlchemy's `Connection`, so the engine's statement, commit
and rollback events fire as before (metrics count on commit; tests count commits).

The pool's ping existed to replace a connection the server had dropped (restarted,
idle timeout) before using it. Here a batch that fails on a broken connection before
its COMMIT was sent is written again, once, on a new connection: nothing of it can have
been committed (the server rolls back a transaction whose connection is lost), so the
retry is safe; a failure once COMMIT has been sent is raised, as before, since the
outcome is unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine

from rempart.storage.thread_connections import ThreadConnections

Work = Callable[[Connection], None]


class PipelinedWriter:
    """Runs `work(conn)` inside one pipelined transaction on a thread's own connection."""

    def __init__(self, engine: Engine, *, connections: ThreadConnections | None = None) -> None:
        """`connections`: autocommit connections kept one per thread (the look-ups')."""
        if engine.dialect.name != "postgresql":
            raise ValueError("pipelined transactions need PostgreSQL (psycopg)")
        self._connections = connections or ThreadConnections(engine, autocommit=True)
        self.retries = 0  # batches written again on a new connection (for tests)

    def write(self, work: Work) -> None:
        """Write in the calling thread, on that thread's connection."""
        try:
            self._write_once(work)
        except _BrokenBeforeCommit as broken:
            self.retries += 1
            try:
                self._write_once(work)
            except _BrokenBeforeCommit as again:
                raise again.error from broken.error

    def _write_once(self, work: Work) -> None:
        conn = self._connections.connection()
        driver: Any = conn.connection.dbapi_connection
        committing = False
        try:
            transaction = conn.begin()  # SQLAlchemy's bookkeeping and events; no SQL
            with driver.pipeline():
                cursor = driver.cursor()
                cursor.execute("BEGIN")
                work(conn)
                committing = True
                cursor.execute("COMMIT")
            # The server has committed; the driver is idle, so this sends nothing and
            # fires the engine's commit event.
            transaction.commit()
        except Exception as exc:
            broken = self._abandon(conn, driver)
            if broken and not committing:
                raise _BrokenBeforeCommit(exc) from exc
            raise

    def _abandon(self, conn: Connection, driver: Any) -> bool:
        """End the failed transaction; True if the connection was lost (then dropped)."""
        if not (driver.closed or driver.broken or conn.invalidated):
            try:
                conn.rollback()  # sends ROLLBACK: the explicit BEGIN left one open
                return False
            except Exception:  # noqa: S110 - in no known state: dropped below
                pass
        self._connections.discard()
        return True


class _BrokenBeforeCommit(Exception):
    def __init__(self, error: Exception) -> None:
        super().__init__("connection lost before COMMIT")
        self.error = error
