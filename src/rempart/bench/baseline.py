"""The import baseline: the same members rows, split on ';' and inserted in clear.

No validation, no encryption, no index: what the database driver alone costs for the
same rows, so the importer's figure can be read against the machine it ran on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from rempart.ingest.formats import COLUMNS, DELIMITER, FileKind

TABLE = "bench_baseline_members"
_BATCH = 10_000
_COLUMNS = COLUMNS[FileKind.MEMBERS]


def _rows(path: Path) -> Iterator[list[str]]:
    with path.open(encoding="utf-8") as handle:
        handle.readline()
        handle.readline()
        for line in handle:
            if line.startswith("#"):
                continue
            yield line.rstrip("\n").split(DELIMITER)


def insert_baseline(engine: Engine, files: Sequence[Path]) -> int:
    """Insert every data row of the files into a plain table; return the row count."""
    columns = ", ".join(f"{c} text" for c in _COLUMNS)
    count = 0
    with engine.connect() as conn:
        db: Any = conn.connection.driver_connection
        sqlite = conn.dialect.name == "sqlite"
        with conn.begin():
            conn.exec_driver_sql(f"CREATE TABLE {TABLE} ({columns})")
        for path in files:
            with conn.begin():
                if sqlite:
                    count += _sqlite(db, path)
                else:
                    count += _postgres(db, path)
    return count


def _sqlite(db: Any, path: Path) -> int:
    sql = f"INSERT INTO {TABLE} VALUES ({', '.join('?' * len(_COLUMNS))})"  # noqa: S608
    count, batch = 0, []
    for row in _rows(path):
        batch.append(row)
        if len(batch) == _BATCH:
            db.executemany(sql, batch)
            count, batch = count + len(batch), []
    db.executemany(sql, batch)
    return count + len(batch)


def _postgres(db: Any, path: Path) -> int:
    count = 0
    with db.cursor() as cur, cur.copy(
            f"COPY {TABLE} FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["text"] * len(_COLUMNS))
        for row in _rows(path):
            copy.write_row(row)
            count += 1
    return count
