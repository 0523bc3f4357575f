"""Writing synthetic files in the import format, and splitting members files in parts.

A file is opened with its header and column line, takes rows as ready-made text (the
generator joins fields itself, which is much faster than a csv writer), and gets its
`#end:<rows>` trailer on close. A members file is cut into parts of at most `part_rows`
rows, never in the middle of a household, so every part imports on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from rempart.ingest.formats import (
    COLUMNS,
    DELIMITER,
    FileKind,
    FileMode,
    header_line,
    trailer_line,
)
from rempart.synth.manifest import SynthFile

BUFFER_BYTES = 1 << 20


class FramedWriter:
    def __init__(self, directory: Path, name: str, kind: FileKind) -> None:
        self.name = name
        self.kind = kind
        self.rows = 0
        self._file: TextIO = (directory / name).open(
            "w", encoding="utf-8", newline="\n", buffering=BUFFER_BYTES)
        self._file.write(f"{header_line(kind, FileMode.FULL)}\n{DELIMITER.join(COLUMNS[kind])}\n")

    def write(self, text: str, rows: int) -> None:
        """Append `rows` complete lines (each ending in a newline)."""
        self._file.write(text)
        self.rows += rows

    def close(self) -> SynthFile:
        self._file.write(f"{trailer_line(self.rows)}\n")
        self._file.close()
        return SynthFile(self.name, self.kind, self.rows)


class MemberParts:
    """The members files of one insurer: members-<amc>-<part>.csv."""

    def __init__(self, directory: Path, amc_number: str, part_rows: int) -> None:
        self._directory = directory
        self._amc = amc_number
        self._part_rows = part_rows
        self._current: FramedWriter | None = None
        self._parts = 0
        self.closed: list[SynthFile] = []

    def write_household(self, text: str, rows: int) -> None:
        current = self._current
        if current is None or current.rows + rows > self._part_rows:
            if current is not None:
                self.closed.append(current.close())
            self._parts += 1
            current = FramedWriter(self._directory, f"members-{self._amc}-{self._parts:04d}.csv",
                                   FileKind.MEMBERS)
            self._current = current
        current.write(text, rows)

    def close(self) -> list[SynthFile]:
        if self._current is not None:
            self.closed.append(self._current.close())
            self._current = None
        return self.closed
