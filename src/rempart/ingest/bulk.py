"""Bulk reads and writes of contracts and beneficiaries, one class per database driver.

The members import works batch by batch on the driver connection underneath the
file's SQLAlchemy transaction: `executemany` on SQLite, `COPY` and `= ANY(array)`
look-ups on PostgreSQL. Ids are assigned by the importer while it holds the tables
locked, so a whole batch can be written without a round trip per row.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Protocol

import psycopg
from psycopg.types.string import BytesBinaryDumper
from sqlalchemy import Connection

from rempart.storage.engine import CACHE_KIB, MMAP_BYTES

SEEN_TABLE = "rempart_import_seen"
# Keys per look-up query. SQLite look-ups always bind one of a few list sizes (padding
# with a repeated key): every distinct size would be another prepared statement kept in
# the driver's cache, each holding its bound keys, and memory would grow with the file.
_LOOKUP_SIZES = (16, 256, 4096)

ContractRow = tuple[int, bytes, bytes, str, dt.date, dt.date | None, bool]
"""id, number_idx, content_mac, tier, start_date, end_date, third_party"""

MemberFound = tuple[int, bytes, bytes, int]
"""id, member_idx, content_mac, contract_id"""

CONTRACT_COLUMNS = ("id", "insurer_id", "number_idx", "key_version", "sealed", "content_mac",
                    "tier", "start_date", "end_date", "third_party", "updated_at")
MEMBER_COLUMNS = ("id", "insurer_id", "contract_id", "rank", "member_idx", "identity_idx",
                  "key_version", "sealed", "content_mac", "updated_at")
_CONTRACT_UPDATE = ("tier", "start_date", "end_date", "third_party", "content_mac",
                    "updated_at")
_MEMBER_UPDATE = ("contract_id", "rank", "identity_idx", "key_version", "sealed",
                  "content_mac", "updated_at")

# Statements built once from the constant names above (no value is ever spliced in).
_INSERT_CONTRACTS = (f"INSERT INTO contracts ({', '.join(CONTRACT_COLUMNS)}) "  # noqa: S608
                     f"VALUES ({', '.join('?' * len(CONTRACT_COLUMNS))})")
_INSERT_MEMBERS = (f"INSERT INTO beneficiaries ({', '.join(MEMBER_COLUMNS)}) "  # noqa: S608
                   f"VALUES ({', '.join('?' * len(MEMBER_COLUMNS))})")
_UPDATE_CONTRACTS = ("UPDATE contracts SET "  # noqa: S608
                     + ", ".join(f"{c} = ?" for c in _CONTRACT_UPDATE) + " WHERE id = ?")
_UPDATE_MEMBERS = ("UPDATE beneficiaries SET "  # noqa: S608
                   + ", ".join(f"{c} = ?" for c in _MEMBER_UPDATE) + " WHERE id = ?")
_FIND_CONTRACTS = ("SELECT id, number_idx, content_mac, tier, start_date, end_date, third_party "
                   "FROM contracts WHERE insurer_id = ? AND number_idx IN ({marks})")
_FIND_MEMBERS = ("SELECT id, member_idx, content_mac, contract_id FROM beneficiaries "
                 "WHERE insurer_id = ? AND member_idx IN ({marks})")
_PG_FIND_SEEN = ("SELECT idx, mac FROM " + SEEN_TABLE  # noqa: S608
                 + " WHERE kind = %s AND insurer_id = %s AND idx = ANY(%s)")
POPULATION_TABLES = ("contracts", "beneficiaries")
_HAS_ROWS = "SELECT 1 FROM {table} WHERE insurer_id = {mark} LIMIT 1"
_FIND_SEEN = ("SELECT idx, mac FROM " + SEEN_TABLE  # noqa: S608
              + " WHERE kind = ? AND insurer_id = ? AND idx IN ({marks})")


class Bulk(Protocol):
    now: Any  # the file's timestamp, as the driver takes it

    def start(self) -> tuple[int, int]:
        """Lock the population tables; return the next free contract and beneficiary ids."""

    def finish(self, next_contract_id: int, next_member_id: int) -> None: ...

    def find_contracts(self, insurer_id: int, keys: Sequence[bytes]) -> list[ContractRow]: ...

    def find_members(self, insurer_id: int, keys: Sequence[bytes]
                     ) -> list[MemberFound]: ...

    def find_seen(self, kind: int, insurer_id: int, keys: Sequence[bytes]
                  ) -> dict[bytes, bytes]: ...

    def add_seen(self, rows: Sequence[tuple[int, int, bytes, bytes]]) -> None: ...

    # Contract rows written carry their dates as ISO text (cheap to hand between
    # processes); rows read (ContractRow) carry dates.
    def insert_contracts(self, rows: Iterable[tuple[Any, ...]]) -> None: ...

    def update_contracts(self, rows: Sequence[tuple[Any, ...]]) -> None: ...

    def insert_members(self, rows: Iterable[tuple[Any, ...]]) -> None: ...

    def has_rows(self, table: str, insurer_id: int) -> bool:
        """Whether any row of the insurer is in `table` (one of POPULATION_TABLES)."""

    def insert_new_contracts(self, rows: Iterable[tuple[Any, ...]]) -> bool:
        """Insert contracts none of which is stored yet; if one is (its natural key is
        taken), write nothing and return False."""

    def insert_new_members(self, rows: Iterable[tuple[Any, ...]]) -> bool:
        """As insert_new_contracts, for beneficiaries."""

    def update_members(self, rows: Sequence[tuple[Any, ...]]) -> None: ...


def _date(iso: str | None) -> dt.date | None:
    return dt.date.fromisoformat(iso) if iso else None


def _population_table(table: str) -> str:
    if table not in POPULATION_TABLES:
        raise ValueError(f"not a population table: {table!r}")
    return table


def bulk_for(conn: Connection, now: dt.datetime) -> Bulk:
    if conn.dialect.name == "sqlite":
        return SqliteBulk(conn, now)
    return PostgresBulk(conn, now)


@contextmanager
def references_checked_here(conn: Connection) -> Iterator[None]:
    """SQLite: no foreign-key check per row while a members file is applied.

    Every reference the members import writes is one it has just read or written in
    the same transaction, under SQLite's write lock: an insurer id from the insurers
    table, a contract id of a row it inserted or found. A row naming anything else
    (an unknown insurer, a terminated contract that does not exist) is refused with its
    line before any write. So the per-row checks (a look-up of the insurer and of the
    contract for every beneficiary, about a tenth of its insert) prove nothing more.
    The setting is per connection and ignored inside a transaction: it is changed
    before the file's transaction begins and put back after it ends, committed or not.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    db: Any = conn.connection.driver_connection
    if db.in_transaction:
        raise RuntimeError("foreign keys can only be switched outside a transaction")
    db.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        db.execute("PRAGMA foreign_keys=ON")  # as every connection of the engine has it


def _padded_chunks(keys: Sequence[bytes]) -> Iterable[tuple[str, list[bytes]]]:
    """(placeholders, keys) per query, keys padded to the next size of _LOOKUP_SIZES."""
    largest = _LOOKUP_SIZES[-1]
    for start in range(0, len(keys), largest):
        chunk = list(keys[start:start + largest])
        size = next(s for s in _LOOKUP_SIZES if s >= len(chunk))
        chunk.extend(chunk[-1:] * (size - len(chunk)))
        yield ",".join("?" * size), chunk


class SqliteBulk:
    """SQLite: the file's transaction is BEGIN IMMEDIATE, so it holds the write lock."""

    def __init__(self, conn: Connection, now: dt.datetime) -> None:
        self._db: Any = conn.connection.driver_connection
        # The same text SQLAlchemy writes for DateTime on SQLite, so readers see no difference.
        self.now = now.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")

    def start(self) -> tuple[int, int]:
        db = self._db
        # No memory map while importing: the pages it reads would stay mapped (resident)
        # and memory would grow with the database; the 64 MiB page cache serves the writes.
        db.execute("PRAGMA mmap_size=0")
        if not db.in_transaction:
            db.execute("BEGIN IMMEDIATE")
        db.execute("PRAGMA cache_size=-65536")  # 64 MiB: index pages stay in memory
        db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {SEEN_TABLE} (kind INTEGER NOT NULL, "
                   "insurer_id INTEGER NOT NULL, idx BLOB NOT NULL, mac BLOB NOT NULL, "
                   "PRIMARY KEY (kind, insurer_id, idx)) WITHOUT ROWID")
        db.execute("DELETE FROM " + SEEN_TABLE)  # noqa: S608 (a constant name)
        (contract_max,) = db.execute("SELECT coalesce(max(id), 0) FROM contracts").fetchone()
        (member_max,) = db.execute("SELECT coalesce(max(id), 0) FROM beneficiaries").fetchone()
        return contract_max + 1, member_max + 1

    def finish(self, next_contract_id: int, next_member_id: int) -> None:
        self._db.execute(f"DROP TABLE IF EXISTS temp.{SEEN_TABLE}")
        # Back to what every connection of the engine has (storage.engine).
        self._db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        self._db.execute(f"PRAGMA mmap_size={MMAP_BYTES}")

    def _find(self, sql: str, insurer_id: int, keys: Sequence[bytes]) -> list[Any]:
        found: list[Any] = []
        for marks, chunk in _padded_chunks(keys):
            found.extend(self._db.execute(sql.format(marks=marks), (insurer_id, *chunk)))
        return found

    def find_contracts(self, insurer_id: int, keys: Sequence[bytes]) -> list[ContractRow]:
        rows = self._find(_FIND_CONTRACTS, insurer_id, keys)
        return [(r[0], r[1], r[2], r[3], dt.date.fromisoformat(r[4]),
                 dt.date.fromisoformat(r[5]) if r[5] else None, bool(r[6])) for r in rows]

    def find_members(self, insurer_id: int, keys: Sequence[bytes]
                     ) -> list[MemberFound]:
        return self._find(_FIND_MEMBERS, insurer_id, keys)

    def find_seen(self, kind: int, insurer_id: int, keys: Sequence[bytes]) -> dict[bytes, bytes]:
        found: dict[bytes, bytes] = {}
        for marks, chunk in _padded_chunks(keys):
            found.update(self._db.execute(_FIND_SEEN.format(marks=marks),
                                          (kind, insurer_id, *chunk)))
        return found

    def add_seen(self, rows: Sequence[tuple[int, int, bytes, bytes]]) -> None:
        self._db.executemany("INSERT INTO " + SEEN_TABLE  # noqa: S608 (a constant name)
                             + " VALUES (?, ?, ?, ?)", rows)

    def insert_contracts(self, rows: Iterable[tuple[Any, ...]]) -> None:
        # The dates' ISO text is what SQLAlchemy writes for Date on SQLite.
        self._db.executemany(_INSERT_CONTRACTS, rows)

    def update_contracts(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self._db.executemany(_UPDATE_CONTRACTS, rows)

    def insert_members(self, rows: Iterable[tuple[Any, ...]]) -> None:
        self._db.executemany(_INSERT_MEMBERS, rows)

    def has_rows(self, table: str, insurer_id: int) -> bool:
        sql = _HAS_ROWS.format(table=_population_table(table), mark="?")
        return self._db.execute(sql, (insurer_id,)).fetchone() is not None

    def insert_new_contracts(self, rows: Iterable[tuple[Any, ...]]) -> bool:
        return self._insert_new(_INSERT_CONTRACTS, rows)

    def insert_new_members(self, rows: Iterable[tuple[Any, ...]]) -> bool:
        return self._insert_new(_INSERT_MEMBERS, rows)

    def _insert_new(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> bool:
        db = self._db
        db.execute("SAVEPOINT rempart_new_rows")
        try:
            db.executemany(sql, rows)
        except sqlite3.IntegrityError:
            db.execute("ROLLBACK TO rempart_new_rows")
            db.execute("RELEASE rempart_new_rows")
            return False
        db.execute("RELEASE rempart_new_rows")
        return True

    def update_members(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self._db.executemany(_UPDATE_MEMBERS, rows)


class PostgresBulk:
    """PostgreSQL: COPY for new rows, array look-ups, tables locked against other writers."""

    _TYPES: ClassVar[dict[str, str]] = {
        "id": "int4", "insurer_id": "int4", "contract_id": "int4", "rank": "int2",
        "key_version": "int2", "tier": "text", "start_date": "date", "end_date": "date",
        "third_party": "bool", "updated_at": "timestamptz"}

    def __init__(self, conn: Connection, now: dt.datetime) -> None:
        self._db: Any = conn.connection.driver_connection
        self.now = now

    def start(self) -> tuple[int, int]:
        with self._db.cursor() as cur:
            # Readers (coverage checks) go on; a second import waits for this one.
            cur.execute("LOCK TABLE contracts, beneficiaries IN SHARE ROW EXCLUSIVE MODE")
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {SEEN_TABLE} (kind int NOT NULL, "
                        "insurer_id int NOT NULL, idx bytea NOT NULL, mac bytea NOT NULL, "
                        "PRIMARY KEY (kind, insurer_id, idx)) ON COMMIT DROP")
            cur.execute("SELECT coalesce(max(id), 0) FROM contracts")
            (contract_max,) = cur.fetchone()
            cur.execute("SELECT coalesce(max(id), 0) FROM beneficiaries")
            (member_max,) = cur.fetchone()
        return contract_max + 1, member_max + 1

    def finish(self, next_contract_id: int, next_member_id: int) -> None:
        with self._db.cursor() as cur:
            for table, next_id in (("contracts", next_contract_id),
                                   ("beneficiaries", next_member_id)):
                # The next default id follows the ids this import assigned itself.
                cur.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, %s)",
                            (table, max(next_id - 1, 1), next_id > 1))
            cur.execute(f"DROP TABLE IF EXISTS {SEEN_TABLE}")

    def _find(self, sql: str, *params: Any) -> list[Any]:
        with self._db.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())

    def find_contracts(self, insurer_id: int, keys: Sequence[bytes]) -> list[ContractRow]:
        return self._find("SELECT id, number_idx, content_mac, tier, start_date, end_date, "
                          "third_party FROM contracts WHERE insurer_id = %s AND "
                          "number_idx = ANY(%s)", insurer_id, list(keys))

    def find_members(self, insurer_id: int, keys: Sequence[bytes]
                     ) -> list[MemberFound]:
        return self._find("SELECT id, member_idx, content_mac, contract_id FROM beneficiaries "
                          "WHERE insurer_id = %s AND member_idx = ANY(%s)", insurer_id, list(keys))

    def find_seen(self, kind: int, insurer_id: int, keys: Sequence[bytes]) -> dict[bytes, bytes]:
        return dict(self._find(_PG_FIND_SEEN, kind, insurer_id, list(keys)))

    def add_seen(self, rows: Sequence[tuple[int, int, bytes, bytes]]) -> None:
        self._copy(SEEN_TABLE, ("kind", "insurer_id", "idx", "mac"), rows,
                   ["int4", "int4", "bytea", "bytea"])

    def _copy(self, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]],
              types: list[str]) -> None:
        with self._db.cursor() as cur:
            # set_types finds dumpers by type oid, and for bytea psycopg's DB-API module
            # registered last a Python dumper (it unwraps psycopg.Binary): a Python call
            # per value, 4 per person. The plain one runs in C.
            cur.adapters.register_dumper(None, BytesBinaryDumper)
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
                          ) as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)

    def _types(self, columns: Sequence[str]) -> list[str]:
        return [self._TYPES.get(c, "bytea") for c in columns]

    def insert_contracts(self, rows: Iterable[tuple[Any, ...]]) -> None:
        self._copy("contracts", CONTRACT_COLUMNS,
                   ((*r[:7], _date(r[7]), _date(r[8]), *r[9:]) for r in rows),
                   self._types(CONTRACT_COLUMNS))

    def insert_members(self, rows: Iterable[tuple[Any, ...]]) -> None:
        self._copy("beneficiaries", MEMBER_COLUMNS, rows, self._types(MEMBER_COLUMNS))

    def has_rows(self, table: str, insurer_id: int) -> bool:
        return bool(self._find(_HAS_ROWS.format(table=_population_table(table), mark="%s"),
                               insurer_id))

    def insert_new_contracts(self, rows: Iterable[tuple[Any, ...]]) -> bool:
        return self._insert_new(self.insert_contracts, rows)

    def insert_new_members(self, rows: Iterable[tuple[Any, ...]]) -> bool:
        return self._insert_new(self.insert_members, rows)

    def _insert_new(self, insert: Callable[[Iterable[tuple[Any, ...]]], None],
                    rows: Iterable[tuple[Any, ...]]) -> bool:
        with self._db.cursor() as cur:
            cur.execute("SAVEPOINT rempart_new_rows")
            try:
                insert(rows)
            except psycopg.errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT rempart_new_rows")
                cur.execute("RELEASE SAVEPOINT rempart_new_rows")
                return False
            cur.execute("RELEASE SAVEPOINT rempart_new_rows")
        return True

    def update_contracts(self, rows: Sequence[tuple[Any, ...]]) -> None:
        with self._db.cursor() as cur:
            cur.executemany(_UPDATE_CONTRACTS.replace("?", "%s"),
                            [(r[0], _date(r[1]), _date(r[2]), *r[3:]) for r in rows])

    def update_members(self, rows: Sequence[tuple[Any, ...]]) -> None:
        with self._db.cursor() as cur:
            cur.executemany(_UPDATE_MEMBERS.replace("?", "%s"), rows)
