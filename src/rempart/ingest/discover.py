"""Which files an import applies, and in what order.

A directory stands for every `*.csv` inside it, in the order of its manifest.json
(`{"files": ["insurers.csv", ...]}`) when there is one. Files are then applied kind
by kind (KIND_ORDER, read from each file's header) and by name within a kind, so
referenced rows always exist before the rows that use them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from rempart.ingest.errors import NothingToImport
from rempart.ingest.formats import HEADER_PREFIX, KIND_ORDER, FileKind

MANIFEST = "manifest.json"


def expand(paths: Sequence[Path]) -> list[Path]:
    """Every file named, directories expanded, each file once, in application order."""
    manifest_position: dict[Path, int] = {}
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            files, listed = _directory_files(path)
            found.extend(files)
            manifest_position.update((p.resolve(), i) for i, p in enumerate(listed))
        elif path.is_file():
            found.append(path)
        else:
            raise NothingToImport(f"{path}: no such file or directory")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise NothingToImport("no *.csv file in the paths given")
    unlisted = len(manifest_position)
    return sorted(unique, key=lambda p: (_kind_rank(p), manifest_position.get(p, unlisted),
                                         p.name))


def _directory_files(directory: Path) -> tuple[list[Path], list[Path]]:
    """Every *.csv in the directory, and those its manifest lists, in manifest order."""
    csvs = sorted(directory.glob("*.csv"))
    manifest = directory / MANIFEST
    if not manifest.is_file():
        return csvs, []
    by_name = {p.name: p for p in csvs}
    listed = _manifest_names(manifest)
    missing = [name for name in listed if name not in by_name]
    if missing:
        raise NothingToImport(f"{manifest}: lists {len(missing)} file(s) that are not in "
                              f"{directory}, first: {missing[0]}")
    return csvs, [by_name[name] for name in listed]


def _manifest_names(manifest: Path) -> list[str]:
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise NothingToImport(f"{manifest}: not valid JSON") from None
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, list):
        raise NothingToImport(f"{manifest}: expected an object with a 'files' list")
    names: list[str] = []
    for entry in files:
        name = entry.get("name") if isinstance(entry, dict) else entry
        if not isinstance(name, str) or "/" in name or "\\" in name:
            raise NothingToImport(f"{manifest}: each file must be a plain file name")
        if name.endswith(".csv"):
            names.append(name)
    return names


def _kind_rank(path: Path) -> int:
    """Position of the file's kind in KIND_ORDER; unreadable headers sort last and fail later."""
    try:
        with path.open("rb") as handle:
            first = handle.readline(256).decode("utf-8", errors="replace")
    except OSError:
        return len(KIND_ORDER)
    if first.startswith(HEADER_PREFIX):
        kind = first[len(HEADER_PREFIX):].split(":", 1)[0]
        if kind in {k.value for k in FileKind}:
            return KIND_ORDER.index(FileKind(kind))
    return len(KIND_ORDER)
