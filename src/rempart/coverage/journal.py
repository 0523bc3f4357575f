"""Group commit of checks: each check's row and its disclosure, many checks per commit.

A check's writes are append-only (nothing it writes is read back by another check), so
they need not each pay for a transaction. On an event loop, `write_async` queues the
row and the disclosure and waits; one flush takes everything queued meanwhile (and in
the next few loop turns, below) into a single transaction (one statement per table,
one commit) and then releases every waiting check. Under load a commit carries many
checks; alone, a check commits one loop turn later. A check's answer is only returned
once its rows are committed (or fails with the commit's error), so no answer ever goes
out unrecorded.

Where a flush runs depends on the backend (the engine's dialect):

- on a database server, in a worker thread, so the loop goes on serving while the
  commit waits on the network and the server's disk; on PostgreSQL on the thread's own
  look-up connection, the batch's statements pipelined in two round trips
  (rempart.storage.pipelined_writer);
- on SQLite, on the loop whenever the database's write lock can be had at once
  (`begin_if_free`: one worker, no import running), else in a worker thread that waits
  for it (another worker process, an insurer file being imported). A commit in a thread
  gives up the GIL at every SQLite call and must win it back from the busy loop each
  time: a batch took 15.9 ms of wall time there for 1.5-3.8 ms of CPU
  (docs/performance.md). On the loop it costs only its CPU and never waits for a lock.
  It is made on the loop thread's own connection, the one the check's look-up reads
  with (`connections`, shared with `CheckReads`): SQLite empties a connection's page
  cache whenever another connection has written, so a commit made elsewhere would make
  every following look-up read its pages again (30-80 µs more per look-up at load 10-17,
  docs/performance.md).

One flush at a time: checks queued during a flush go into the next one, so batches
grow with the load. Before committing, a flush lets the loop turn again as long as the
previous turn brought more checks (at most `GATHER_TURNS` turns): under load, checks
whose requests arrived a turn later join the same commit instead of starting the next
one. Much of a commit's cost is per batch (the pages it appends to the WAL: the
table's and the reference index's last pages are written again by every commit), so
fewer, larger batches cost less per check; a lone check still commits after one turn.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, insert

from rempart.coverage.models import Check
from rempart.coverage.wal_checkpoints import WalCheckpointer
from rempart.disclosure import Disclosure, DisclosureRecorder
from rempart.observability import metrics
from rempart.storage.driver_cursor import DriverCursor
from rempart.storage.driver_sql import DriverStatement
from rempart.storage.pipelined_writer import PipelinedWriter
from rempart.storage.sqlite_lock import begin_if_free
from rempart.storage.thread_connections import ThreadConnections

MAX_BATCH = 500
# Turns of the loop a flush waits for more checks while each turn brings some. Each
# turn costs a loop iteration (tens of µs) and no more than the work the loop already had.
GATHER_TURNS = 4


@dataclass(frozen=True, slots=True)
class PendingCheck:
    row: dict[str, Any]
    disclosure: Disclosure


class CheckJournal:
    def __init__(self, *, engine: Engine, recorder: DisclosureRecorder,
                 connections: ThreadConnections | None = None,
                 max_batch: int = MAX_BATCH) -> None:
        self._engine = engine
        self._recorder = recorder
        # SQLite only: the connections that on-loop commits go through (see above).
        self._on_loop: ThreadConnections | None = None
        # PostgreSQL: pipelined commits on the threads' look-up connections (see above).
        self._pipelined: PipelinedWriter | None = None
        if engine.dialect.name == "sqlite":
            self._on_loop = connections or ThreadConnections(engine)
        elif engine.dialect.name == "postgresql":
            self._pipelined = PipelinedWriter(engine, connections=connections)
        self._max_batch = max_batch
        self._queued: list[tuple[PendingCheck, asyncio.Future[None]]] = []
        self._flushing = False
        self._flush_task: asyncio.Task[None] | None = None  # held: the loop keeps weak refs
        columns = [c.key for c in Check.__table__.columns if not c.primary_key]
        # inline(): no RETURNING of the new ids (SQLAlchemy adds one on PostgreSQL), which
        # nothing reads: a small saving per row, mostly the server's (docs/deploy.md,
        # "PostgreSQL's own work per check").
        self._insert = DriverStatement(insert(Check).inline(), engine.dialect,
                                       column_keys=columns)
        self._checkpoints = WalCheckpointer(engine)
        # For benchmarks and tests: where the flushes ran.
        self.flushes_on_loop = 0
        self.flushes_in_thread = 0

    def write(self, pending: PendingCheck) -> None:
        """Commit one check's writes now (for synchronous callers)."""
        self._commit([pending])

    async def write_async(self, pending: PendingCheck) -> None:
        """Queue a check's writes for the next group commit and wait for it."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queued.append((pending, done))
        if not self._flushing:
            self._flushing = True
            self._flush_task = loop.create_task(self._flush())
        await done

    async def drain(self) -> None:
        """Wait until every queued check is committed (at shutdown)."""
        while self._flushing and self._flush_task is not None:
            await asyncio.shield(self._flush_task)

    async def _flush(self) -> None:
        try:
            await self._gather()
            while self._queued:
                batch = self._queued[:self._max_batch]
                del self._queued[:self._max_batch]
                checks = [pending for pending, _ in batch]
                try:
                    if self._on_loop is not None and self._commit_if_free(self._on_loop,
                                                                           checks):
                        self.flushes_on_loop += 1
                    else:
                        await asyncio.to_thread(self._commit, checks)
                        self.flushes_in_thread += 1
                except Exception as exc:  # every waiting check learns it was not recorded
                    _settle(batch, exc)
                else:
                    _settle(batch, None)
                    self._checkpoints.run_when_due()
        finally:
            self._flushing = False

    async def _gather(self) -> None:
        """Let the loop turn while it brings more checks, so that they join this commit."""
        waiting = len(self._queued)
        for _ in range(GATHER_TURNS):
            if waiting >= self._max_batch:
                return
            await asyncio.sleep(0)
            if len(self._queued) == waiting:
                return
            waiting = len(self._queued)

    def _commit(self, checks: Sequence[PendingCheck]) -> None:
        """Commit in the calling thread: on PostgreSQL pipelined on the thread's own
        connection, elsewhere through a pooled one."""
        if self._pipelined is not None:
            self._pipelined.write(functools.partial(self._write, checks=checks))
        else:
            with (self._engine.connect() as conn, self._checkpoints.deferred(conn),
                  conn.begin()):
                self._write(conn, checks=checks)
        metrics.record_checks(pending.row["outcome"] for pending in checks)

    def _commit_if_free(self, connections: ThreadConnections,
                        checks: Sequence[PendingCheck]) -> bool:
        """Commit now, on this thread's own connection, if SQLite's write lock is free at
        once; False (nothing done) if not."""
        conn = connections.connection()
        with self._checkpoints.deferred(conn):
            if not begin_if_free(conn):
                return False
            try:
                self._write(conn, checks=checks)
                conn.commit()
            except BaseException:
                _abandon(connections, conn)
                raise
        metrics.record_checks(pending.row["outcome"] for pending in checks)
        return True

    def _write(self, conn: Connection, *, checks: Sequence[PendingCheck]) -> None:
        # On the driver's cursor: through exec_driver_sql the statement cost several
        # times what the driver took to run it, once per batch (rempart.storage.driver_cursor).
        with DriverCursor(conn) as cursor:
            cursor.executemany(self._insert.sql,
                               [self._insert.bind(pending.row) for pending in checks])
        self._recorder.record(conn, [pending.disclosure for pending in checks])


def _abandon(connections: ThreadConnections, conn: Connection) -> None:
    """Roll back a failed commit on a connection that stays in use: the driver's own
    transaction too (BEGIN IMMEDIATE was the driver's), or the write lock stays held."""
    try:
        conn.rollback()
        driver: Any = conn.connection.dbapi_connection
        if driver.in_transaction:
            driver.rollback()
    except Exception:  # in no known state: the thread gets a new connection
        connections.discard()


def _settle(batch: list[tuple[PendingCheck, asyncio.Future[None]]],
            error: Exception | None) -> None:
    for _, done in batch:
        if done.done():  # the waiting request was cancelled (client gone)
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
