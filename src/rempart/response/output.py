"""Writing personal-data documents: owner-only files, all or nothing.

The reports name real persons, so every file is created mode 0600 and every directory
0700 (asked for at creation: a umask can only remove permissions, never add them). A
report is built in a hidden staging directory next to its target and renamed into place
only once complete; on any error the staging directory is removed, so a failed run
leaves nothing behind and never a half-written report.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO

import orjson

from rempart.response.errors import OutputNotEmpty

FILE_MODE = 0o600
DIR_MODE = 0o700
MANIFEST = "MANIFEST.json"


def make_private_dir(path: Path) -> None:
    """Create the directory and any missing parents, each owner-only."""
    missing = []
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for directory in reversed(missing):
        directory.mkdir(mode=DIR_MODE)


def _open_private(path: Path) -> int:
    # O_EXCL: never write through a file (or a symlink) that someone placed there first.
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)


def write_private_file(path: Path, data: bytes) -> None:
    """Write a new owner-only file, atomically (a reader never sees half of it)."""
    if path.exists() or path.is_symlink():
        raise OutputNotEmpty(f"{path} already exists; not overwriting it")
    make_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with os.fdopen(_open_private(tmp), "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class StagedOutput:
    """A report directory that appears complete or not at all.

    Use as a context manager; write with `text()` or `write()` (paths relative to the
    report); on a clean exit a manifest (SHA-256 and size of each file) is added and the
    staging directory takes the target's name.
    """

    def __init__(self, target: Path) -> None:
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            raise OutputNotEmpty(f"output {target} exists and is not a directory")
        if target.is_dir() and any(target.iterdir()):
            raise OutputNotEmpty(f"output directory {target} is not empty; "
                                 "a report never overwrites another")
        self.target = target
        self._staging: Path | None = None
        self._files: list[str] = []

    def __enter__(self) -> StagedOutput:
        make_private_dir(self.target.parent)
        # mkdtemp creates the directory 0700.
        self._staging = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.partial-",
                                              dir=self.target.parent))
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        staging = self._require_staging()
        if kind is not None:
            shutil.rmtree(staging, ignore_errors=True)
            return
        try:
            self._write_manifest(staging)
            # Renaming onto an empty directory replaces it (POSIX); anything else fails.
            os.rename(staging, self.target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _require_staging(self) -> Path:
        if self._staging is None:
            raise RuntimeError("StagedOutput used outside its `with` block")
        return self._staging

    def _path(self, relative: str) -> Path:
        parts = Path(relative).parts
        if not parts or Path(relative).is_absolute() or ".." in parts:
            raise ValueError("report paths are relative and stay inside the report")
        path = self._require_staging() / relative
        make_private_dir(path.parent)
        self._files.append(relative)
        return path

    @contextmanager
    def text(self, relative: str, *, encoding: str = "utf-8",
             newline: str | None = None) -> Iterator[IO[str]]:
        """A new owner-only text file in the report, for streaming writes."""
        with os.fdopen(_open_private(self._path(relative)), "w", encoding=encoding,
                       newline=newline) as handle:
            yield handle

    def write(self, relative: str, data: bytes) -> None:
        with os.fdopen(_open_private(self._path(relative)), "wb") as handle:
            handle.write(data)

    @property
    def files(self) -> list[str]:
        return list(self._files)

    def _write_manifest(self, staging: Path) -> None:
        entries = []
        for relative in sorted(self._files):
            digest = hashlib.sha256()
            size = 0
            with (staging / relative).open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
                    size += len(chunk)
            entries.append({"path": relative, "bytes": size, "sha256": digest.hexdigest()})
        with os.fdopen(_open_private(staging / MANIFEST), "wb") as handle:
            handle.write(orjson.dumps({"files": entries}, option=orjson.OPT_INDENT_2))
