"""Reading the audit tables as they are stored, trusting nothing.

Verification must survive a table altered by hand (on SQLite a column can even hold a
value of another type), so these queries are plain SQL returning the driver's raw
values, and every conversion failure becomes a reason, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, inspect, text

from rempart.audit.errors import AuditSchemaMissing
from rempart.audit.hashing import HASH_BYTES, leaf_hash
from rempart.audit.models import HEAD_ROW_ID
from rempart.audit.records import canonical_json, entry_bytes
from rempart.audit.statements import ArchiveSeal, Checkpoint


@contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """One consistent read of the log while writers carry on (verify, breach scope)."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        elif conn.dialect.name == "sqlite":
            # pysqlite opens no transaction for SELECTs: without one, each query would
            # see its own state of the log.
            conn.exec_driver_sql("BEGIN")
        try:
            yield conn
        finally:
            conn.rollback()


TABLES = ("audit_entries", "audit_head", "audit_checkpoints", "audit_archives")
CONTENT_COLUMNS = ("event", "occurred_at_us", "account_id", "organisation_id", "session_id",
                   "device_id", "client_address", "subject_id", "fields", "detail")
ENTRY_SQL = ("SELECT position, " + ", ".join(CONTENT_COLUMNS) + ", prev_hash, entry_hash "
             "FROM audit_entries WHERE position > :after AND position <= :through "
             "ORDER BY position")
CHECKPOINT_SQL = ("SELECT number, first_position, last_position, root, last_entry_hash, "
                  "created_at_us, key_id, signature FROM audit_checkpoints ORDER BY number")
SEAL_SQL = ("SELECT number, first_position, last_position, last_entry_hash, file_name, "
            "file_sha256, created_at_us, key_id, signature FROM audit_archives ORDER BY number")


class MalformedEntry(ValueError):
    """A stored entry cannot be turned into canonical bytes; the reason names the column."""


def raw_bytes(value: Any) -> Any:
    return value.tobytes() if isinstance(value, memoryview) else value


def is_hash(value: Any) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_BYTES


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One row of the chain with its values as stored."""

    position: int
    content: tuple[Any, ...]  # CONTENT_COLUMNS, in order
    prev_hash: Any
    entry_hash: Any

    @classmethod
    def from_row(cls, row: Any) -> StoredEntry:
        values = tuple(row)
        return cls(position=values[0], content=values[1:-2], prev_hash=raw_bytes(values[-2]),
                   entry_hash=raw_bytes(values[-1]))

    def leaf(self) -> bytes:
        """H(0x00 || canonical bytes) recomputed from the stored columns."""
        columns = dict(zip(CONTENT_COLUMNS, self.content, strict=True))
        fields, detail_text = columns.pop("fields"), columns.pop("detail")
        if not isinstance(fields, str):
            raise MalformedEntry("column 'fields' is not text")
        if not isinstance(detail_text, str):
            raise MalformedEntry("column 'detail' is not text")
        try:
            detail = orjson.loads(detail_text)
        except orjson.JSONDecodeError:
            raise MalformedEntry("column 'detail' is not valid JSON") from None
        if not isinstance(detail, dict) or canonical_json(detail) != detail_text.encode():
            raise MalformedEntry("column 'detail' is not a canonical JSON object")
        try:
            data = entry_bytes(position=self.position, fields=fields.split(",") if fields else [],
                               detail=detail, **columns)
        except TypeError:
            raise MalformedEntry("a column holds a value of an unexpected type") from None
        return leaf_hash(data)

    def to_json(self) -> dict[str, Any]:
        """The row for an archive file: columns as stored, hashes in hex."""
        return {"position": self.position, **dict(zip(CONTENT_COLUMNS, self.content, strict=True)),
                "prev_hash": self.prev_hash.hex() if isinstance(self.prev_hash, bytes) else None,
                "entry_hash": self.entry_hash.hex() if isinstance(self.entry_hash, bytes) else None}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> StoredEntry:
        position = doc.get("position")
        if isinstance(position, bool) or not isinstance(position, int):
            raise ValueError("field 'position' is not an integer")
        missing = [c for c in (*CONTENT_COLUMNS, "prev_hash", "entry_hash") if c not in doc]
        if missing:
            raise ValueError(f"field '{missing[0]}' is missing")
        return cls(position=position, content=tuple(doc[c] for c in CONTENT_COLUMNS),
                   prev_hash=_from_hex(doc["prev_hash"]), entry_hash=_from_hex(doc["entry_hash"]))


def _from_hex(value: Any) -> Any:
    try:
        return bytes.fromhex(value) if isinstance(value, str) else value
    except ValueError:
        return value


@dataclass(frozen=True)
class Head:
    position: int
    entry_hash: bytes
    archived_through: int


def require_schema(engine: Engine) -> None:
    present = set(inspect(engine).get_table_names())
    missing = [name for name in TABLES if name not in present]
    if missing:
        raise AuditSchemaMissing(f"this database has no audit log (missing table {missing[0]}); "
                                 "start the instance once so that its schema is created")


def read_head(conn: Connection) -> Head:
    row = conn.execute(text("SELECT position, entry_hash, archived_through FROM audit_head "
                            "WHERE id = :id"), {"id": HEAD_ROW_ID}).one_or_none()
    if row is None:
        raise AuditSchemaMissing("the audit head row is missing: the audit tables were altered")
    position, entry_hash, archived = row[0], raw_bytes(row[1]), row[2]
    if not (isinstance(position, int) and isinstance(archived, int) and is_hash(entry_hash)):
        raise AuditSchemaMissing("the audit head row is malformed: the audit tables were altered")
    return Head(position=position, entry_hash=entry_hash, archived_through=archived)


def read_checkpoints(conn: Connection) -> tuple[list[Checkpoint], list[tuple[int, str]]]:
    """Parsed checkpoints, and (position, reason) for each row that does not parse."""
    parsed, broken = [], []
    for row in conn.execute(text(CHECKPOINT_SQL)):
        values = tuple(raw_bytes(v) for v in row)
        try:
            parsed.append(Checkpoint.from_row(values))
        except ValueError as exc:
            first = values[1] if isinstance(values[1], int) else 1
            broken.append((first, f"checkpoint row {values[0]!s:.12} is malformed ({exc})"))
    return parsed, broken


def read_seals(conn: Connection) -> tuple[list[ArchiveSeal], list[tuple[int, str]]]:
    parsed, broken = [], []
    for row in conn.execute(text(SEAL_SQL)):
        values = tuple(raw_bytes(v) for v in row)
        try:
            parsed.append(ArchiveSeal.from_row(values))
        except ValueError as exc:
            first = values[1] if isinstance(values[1], int) else 1
            broken.append((first, f"archive seal row {values[0]!s:.12} is malformed ({exc})"))
    return parsed, broken


def iter_entries(conn: Connection, *, after: int, through: int,
                 batch: int = 5000) -> Iterator[StoredEntry]:
    """Entries after..through in position order, streamed in batches."""
    # A statement option: Connection.execution_options would change the connection itself.
    result = conn.execute(text(ENTRY_SQL).execution_options(yield_per=batch),
                          {"after": after, "through": through})
    for partition in result.partitions():
        for row in partition:
            yield StoredEntry.from_row(row)
