"""Writing files in the import format: header, column line, rows, trailer."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from rempart.ingest.formats import COLUMNS, DELIMITER, FileKind, FileMode, header_line, trailer_line


def write_import_file(path: Path, kind: FileKind, mode: FileMode,
                      rows: Iterable[Sequence[str]]) -> int:
    """Write rows (strings, in COLUMNS[kind] order) as one file; return the row count."""
    width = len(COLUMNS[kind])
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write(header_line(kind, mode) + "\n")
        out.write(DELIMITER.join(COLUMNS[kind]) + "\n")
        for row in rows:
            if len(row) != width:
                raise ValueError(f"a {kind.value} row has {width} fields")
            out.write(DELIMITER.join(row) + "\n")
            count += 1
        out.write(trailer_line(count) + "\n")
    return count
