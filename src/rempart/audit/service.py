"""Appending to the audit log: one consistent order across threads, workers and machines.

Positions are handed out by the single `audit_head` row, updated first in each append
transaction: on PostgreSQL its row lock makes concurrent transactions wait and then
read the position and hash their predecessor committed; on SQLite the database write
lock, taken by that first UPDATE, does the same. The chain hash is computed inside the
transaction, so position, previous hash and head always move together.

Group commit: `append` hands its record to one writer thread per process and waits for
the commit; the writer takes everything queued meanwhile into the same transaction.
Under load a batch holds many entries for one commit; alone, an entry commits at once.
`append` returns only once the entry is durable, and raises if it could not be written:
a disclosure must not go ahead unrecorded.
"""

from __future__ import annotations

import asyncio
import functools
import os
import queue
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from rempart.audit.errors import AuditLogClosed, AuditSchemaMissing, AuditWriteFailed
from rempart.audit.hashing import chain_hash, leaf_hash
from rempart.audit.models import HEAD_ROW_ID, AuditHead
from rempart.audit.records import AuditRecord, DetailValue
from rempart.clock import Clock
from rempart.observability import metrics
from rempart.storage.driver_cursor import DriverCursor

DEFAULT_MAX_BATCH = 500

# Driver SQL, built once per parameter style, run on the driver's cursor (DriverCursor):
# through SQLAlchemy each statement cost more to execute than the database took to run
# it, and they run in the checks' group commit. Positional rows: no per-value processing.
_ENTRY_COLUMNS = ("position", "event", "occurred_at_us", "account_id", "organisation_id",
                  "session_id", "device_id", "client_address", "subject_id", "fields",
                  "detail", "prev_hash", "entry_hash")


@dataclass(frozen=True)
class _Statements:
    claim_positions: str  # moves the head on by the batch's size; returns where it ends
    insert_entries: str
    set_head_hash: str


@functools.cache
def _statements(paramstyle: str) -> _Statements:
    mark = "?" if paramstyle == "qmark" else "%s"
    head = f"UPDATE {AuditHead.__tablename__}"
    return _Statements(
        claim_positions=f"{head} SET position = position + {mark} "
                        f"WHERE id = {HEAD_ROW_ID} RETURNING position, entry_hash",
        insert_entries=f"INSERT INTO audit_entries ({', '.join(_ENTRY_COLUMNS)}) "  # noqa: S608
                       f"VALUES ({', '.join([mark] * len(_ENTRY_COLUMNS))})",
        set_head_hash=f"{head} SET entry_hash = {mark} WHERE id = {HEAD_ROW_ID}")


class AuditReceipt(NamedTuple):
    """Where an entry landed: quote the position to find it again (one per entry written,
    on the check's commit path: a named tuple costs a fraction of a frozen dataclass)."""

    position: int
    entry_hash: bytes


class AuditLog:
    """The append side of the log. Close it (or use it as a context manager) to stop
    its writer thread; entries already appended are durable either way."""

    def __init__(self, *, engine: Engine, clock: Clock,
                 max_batch: int = DEFAULT_MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._engine = engine
        self._clock = clock
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[AuditRecord, Future[AuditReceipt]] | None]
        self._queue = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._writer_pid = 0
        self._closed = False
        self.batches_written = 0  # for benchmarks: entries / batches is the mean batch size

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- public API ---------------------------------------------------------

    def record(self, *, event: str, account_id: int | None = None,
               organisation_id: int | None = None, session_id: str | None = None,
               device_id: str | None = None, client_address: str | None = None,
               subject_id: int | None = None, fields: Sequence[str] = (),
               detail: Mapping[str, DetailValue] | None = None) -> AuditRecord:
        """Validate an entry stamped with the clock's current time (not yet written)."""
        return AuditRecord.create(
            event=event, occurred_at=self._clock.now(), account_id=account_id,
            organisation_id=organisation_id, session_id=session_id, device_id=device_id,
            client_address=client_address, subject_id=subject_id, fields=fields, detail=detail)

    def append(self, *, event: str, account_id: int | None = None,
               organisation_id: int | None = None, session_id: str | None = None,
               device_id: str | None = None, client_address: str | None = None,
               subject_id: int | None = None, fields: Sequence[str] = (),
               detail: Mapping[str, DetailValue] | None = None) -> AuditReceipt:
        """Append one entry and wait until it is committed."""
        record = self.record(
            event=event, account_id=account_id, organisation_id=organisation_id,
            session_id=session_id, device_id=device_id, client_address=client_address,
            subject_id=subject_id, fields=fields, detail=detail)
        return self.submit(record).result()

    async def append_async(self, *, event: str, account_id: int | None = None,
                           organisation_id: int | None = None, session_id: str | None = None,
                           device_id: str | None = None, client_address: str | None = None,
                           subject_id: int | None = None, fields: Sequence[str] = (),
                           detail: Mapping[str, DetailValue] | None = None) -> AuditReceipt:
        """`append` for async code: waits for the commit without blocking the event loop."""
        record = self.record(
            event=event, account_id=account_id, organisation_id=organisation_id,
            session_id=session_id, device_id=device_id, client_address=client_address,
            subject_id=subject_id, fields=fields, detail=detail)
        return await asyncio.wrap_future(self.submit(record))

    def submit(self, record: AuditRecord) -> Future[AuditReceipt]:
        """Queue a validated record for the next group commit."""
        future: Future[AuditReceipt] = Future()
        with self._lock:
            if self._closed:
                raise AuditLogClosed("the audit log is closed")
            self._ensure_writer()
            self._queue.put((record, future))
        return future

    def append_records(self, records: Sequence[AuditRecord]) -> list[AuditReceipt]:
        """Write records in one transaction from the calling thread (bulk and tests)."""
        if not records:
            return []
        try:
            return self._write(records)
        except SQLAlchemyError as exc:
            raise AuditWriteFailed("the audit log could not be written; the disclosure it "
                                   "records must not go ahead") from exc

    def append_in_transaction(self, connection: Connection,
                              records: Sequence[AuditRecord]) -> list[AuditReceipt]:
        """Write records inside the caller's transaction, so that they commit (or roll back)
        with it. The head row stays locked until that commit: make this the transaction's
        last statement, or concurrent appends wait on the whole of it."""
        if not records:
            return []
        return self._write_on(connection, records)

    def start_writer(self) -> None:
        """Start the writer thread now rather than at the first entry: a served app does it
        before serving, as a thread started on the event loop stalls it until it runs."""
        with self._lock:
            if not self._closed:
                self._ensure_writer()

    def close(self) -> None:
        """Write what is queued, then stop the writer thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            writer = self._writer if self._writer_pid == os.getpid() else None
            if writer is not None:
                self._queue.put(None)
        if writer is not None:
            writer.join()

    # -- the writer ---------------------------------------------------------

    def _ensure_writer(self) -> None:
        # A forked worker inherits neither the thread nor a usable queue: start afresh.
        if self._writer is not None and self._writer_pid == os.getpid():
            return
        self._queue = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._writer_pid = os.getpid()
        self._writer.start()

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[tuple[AuditRecord, Future[AuditReceipt]]]) -> None:
        try:
            receipts = self._write([record for record, _ in batch])
        except Exception as exc:  # every waiter must hear of the failure, whatever it was
            failure = AuditWriteFailed("the audit log could not be written; the disclosure "
                                       "it records must not go ahead")
            failure.__cause__ = exc
            for _, future in batch:
                future.set_exception(failure)
            return
        for (_, future), receipt in zip(batch, receipts, strict=True):
            future.set_result(receipt)

    def _write(self, records: Sequence[AuditRecord]) -> list[AuditReceipt]:
        with self._engine.begin() as conn:
            receipts = self._write_on(conn, records)
        self.batches_written += 1
        return receipts

    @staticmethod
    def _write_on(conn: Connection, records: Sequence[AuditRecord]) -> list[AuditReceipt]:
        sql = _statements(conn.dialect.paramstyle)
        rows, receipts = [], []
        with DriverCursor(conn) as cursor:
            # The UPDATE comes first so that it takes the lock before anything is read.
            row = cursor.fetchone(sql.claim_positions, (len(records),))
            if row is None:
                raise AuditSchemaMissing("the audit head row is missing")
            last, prev = int(row[0]), bytes(row[1])
            position = last - len(records)
            for record in records:
                position += 1
                entry_hash = chain_hash(prev, leaf_hash(record.canonical_bytes(position)))
                rows.append((position, record.event, record.occurred_at_us,
                             record.account_id, record.organisation_id, record.session_id,
                             record.device_id, record.client_address, record.subject_id,
                             record.fields_text, record.detail_json, prev, entry_hash))
                receipts.append(AuditReceipt(position=position, entry_hash=entry_hash))
                prev = entry_hash
            cursor.executemany(sql.insert_entries, rows)
            cursor.execute(sql.set_head_hash, (prev,))
        metrics.record_audit_entries(conn, len(records))
        return receipts
