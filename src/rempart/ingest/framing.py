"""Reading one import file: its fingerprint, header, column line, rows and trailer.

The framing is checked before any row is applied where that is cheap (header, column
line, trailer present) and while streaming otherwise (encoding, row count), so a
truncated or wrongly encoded file is rejected as a whole.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rempart.ingest.errors import Problems
from rempart.ingest.fields import CONTROL_CHARS
from rempart.ingest.formats import (
    COLUMNS,
    DELIMITER,
    FORMAT_VERSION,
    HEADER_PREFIX,
    TRAILER_PREFIX,
    FileKind,
    FileMode,
)

_TAIL_BYTES = 64
CHUNK_BYTES = 1 << 18  # rows are read and handed on in blocks of whole lines (~2,000)
_DATA_START_LINE = 3  # header on line 1, column names on line 2
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class FileHead:
    """What a file says it is, read from its first line and its last line."""

    path: Path
    sha256: bytes
    kind: FileKind
    mode: FileMode
    declared_rows: int
    data_end: int  # offset where the trailer line starts


def sha256_of(path: Path) -> bytes:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").digest()


def read_head(path: Path, problems: Problems) -> FileHead | None:
    """Check the framing lines; on any problem, record it and return None."""
    if path.stat().st_size == 0:
        problems.add(0, "", "the file is empty")
        return None
    with path.open("rb") as handle:
        first = handle.readline(256)
        second = handle.readline(4096)
    header = _decode(first, problems, 1)
    if header is None:
        return None
    kind_mode = _parse_header(header)
    if kind_mode is None:
        problems.add(1, "", f"unknown header; expected '{HEADER_PREFIX}<kind>:{FORMAT_VERSION}:"
                            "<full|delta>' with kind one of "
                            + ", ".join(k.value for k in FileKind))
        return None
    kind, mode = kind_mode
    columns = _decode(second, problems, 2)
    if columns is None:
        return None
    if tuple(columns.split(DELIMITER)) != COLUMNS[kind]:
        problems.add(2, "", f"the column line does not match the {kind.value} format "
                            "(see docs/import-format.md)")
        return None
    trailer = _read_trailer(path, problems)
    if trailer is None:
        return None
    declared, data_end = trailer
    return FileHead(path=path, sha256=sha256_of(path), kind=kind, mode=mode,
                    declared_rows=declared, data_end=data_end)


def data_chunks(head: FileHead, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[int, bytes]]:
    """The data rows as (line number of the first, raw bytes of whole lines), in order.

    The trailer (checked by read_head to be the last line) is left out.
    """
    with head.path.open("rb") as handle:
        line_no = _DATA_START_LINE
        handle.readline()
        handle.readline()
        remaining = head.data_end - handle.tell()
        carry = b""
        while remaining > 0:
            block = handle.read(min(chunk_bytes, remaining))
            if not block:
                break
            remaining -= len(block)
            block = carry + block
            cut = block.rfind(b"\n") + 1 if remaining > 0 else len(block)
            if cut == 0:
                carry = block
                continue
            carry = block[cut:]
            yield line_no, block[:cut]
            line_no += block.count(b"\n", 0, cut)
        if carry:
            yield line_no, carry


def split_rows(kind: FileKind, first_line: int, raw: bytes,
               problems: Problems) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, fields) for each sound line of a chunk; record the others."""
    for line_no, line in sound_lines(kind, first_line, raw, problems):
        yield line_no, line.split(DELIMITER)


def sound_lines(kind: FileKind, first_line: int, raw: bytes,
                problems: Problems) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) for each sound line of a chunk; record the others.

    Lines with a bad encoding, control characters or the wrong number of fields are
    problems and are not yielded.
    """
    names = COLUMNS[kind]
    width = len(names)
    text = clean_text(raw)
    if text is not None:
        text_lines = text.split("\n")
        if text_lines[-1] == "":
            text_lines.pop()
        separators = width - 1
        for line_no, text_line in enumerate(text_lines, start=first_line):
            if text_line.count(DELIMITER) != separators:
                problems.add(line_no, "", f"has {text_line.count(DELIMITER) + 1} fields, "
                                          f"expected {width}")
                continue
            yield line_no, text_line
        return
    lines = raw.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    for line_no, line_bytes in enumerate(lines, start=first_line):
        line = _decode(line_bytes, problems, line_no)
        if line is None:
            continue
        fields = line.split(DELIMITER)
        if len(fields) != width:
            problems.add(line_no, "", f"has {len(fields)} fields, expected {width}")
            continue
        if CONTROL_CHARS.search(line):
            bad = next(i for i, f in enumerate(fields) if CONTROL_CHARS.search(f))
            problems.add(line_no, names[bad], "contains a control character")
            continue
        yield line_no, line


def clean_text(raw: bytes) -> str | None:
    """The usual chunk, checked whole: valid UTF-8, no control character but the
    newlines (no CR either); None for any other (its lines are then checked one by one)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if text and not _CONTROL_BUT_NEWLINE.search(text) else None


def count_lines(raw: bytes) -> int:
    return raw.count(b"\n") + (0 if raw.endswith(b"\n") or not raw else 1)


def check_row_count(head: FileHead, seen: int, problems: Problems) -> None:
    if seen != head.declared_rows:
        problems.add(0, "", f"the trailer announces {head.declared_rows} rows but the file "
                            f"has {seen}: truncated or altered")


def iter_rows(head: FileHead, problems: Problems) -> Iterator[tuple[int, list[str]]]:
    """Every sound data row of the file in order; the row count is checked at the end."""
    seen = 0
    for first_line, raw in data_chunks(head):
        seen += count_lines(raw)
        yield from split_rows(head.kind, first_line, raw, problems)
    check_row_count(head, seen, problems)


def _decode(raw: bytes, problems: Problems, line_no: int) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        problems.add(line_no, "", "is not valid UTF-8")
        return None
    return text.removesuffix("\n").removesuffix("\r")


def _parse_header(line: str) -> tuple[FileKind, FileMode] | None:
    if not line.startswith(HEADER_PREFIX):
        return None
    parts = line[len(HEADER_PREFIX):].split(":")
    if len(parts) != 3 or parts[1] != FORMAT_VERSION:
        return None
    try:
        return FileKind(parts[0]), FileMode(parts[2])
    except ValueError:
        return None


def _read_trailer(path: Path, problems: Problems) -> tuple[int, int] | None:
    """The row count the trailer announces, and the offset where the trailer starts."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        tail_start = max(0, size - _TAIL_BYTES)
        handle.seek(tail_start)
        tail = handle.read()
    body = tail.rstrip(b"\r\n")
    newline = body.rfind(b"\n")
    last = body[newline + 1:].decode("ascii", errors="replace")
    count = last[len(TRAILER_PREFIX):]
    if not last.startswith(TRAILER_PREFIX) or not count.isascii() or not count.isdigit():
        problems.add(0, "", f"no trailer line '{TRAILER_PREFIX}<rows>' at the end: "
                            "the file is truncated")
        return None
    return int(count), tail_start + newline + 1
