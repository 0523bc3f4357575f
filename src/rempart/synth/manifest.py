"""The manifest of a generated population: what was asked, what was written, in which order.

It holds counts and file names only, never a row, so it can be printed, logged and
committed freely. The files are listed in import order (FileKind order, then parts).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

from rempart.ingest.formats import KIND_ORDER, FileKind

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1


@dataclass(frozen=True, slots=True)
class SynthFile:
    name: str  # relative to the manifest's directory
    kind: FileKind
    rows: int


@dataclass(frozen=True)
class SynthManifest:
    seed: int
    people: int
    today: dt.date
    part_rows: int
    households: int
    files: tuple[SynthFile, ...]

    @property
    def counts(self) -> Mapping[FileKind, int]:
        """Rows per file kind (members rows are persons)."""
        totals = dict.fromkeys(KIND_ORDER, 0)
        for file in self.files:
            totals[file.kind] += file.rows
        return totals

    def paths(self, directory: Path) -> list[Path]:
        """The files to import, in order."""
        return [directory / file.name for file in self.files]

    def to_json(self) -> bytes:
        return orjson.dumps({
            "version": MANIFEST_VERSION,
            "seed": self.seed,
            "people": self.people,
            "today": self.today.isoformat(),
            "part_rows": self.part_rows,
            "households": self.households,
            "counts": {kind.value: rows for kind, rows in self.counts.items()},
            "files": [{"name": f.name, "kind": f.kind.value, "rows": f.rows}
                      for f in self.files],
        }, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)

    @classmethod
    def from_json(cls, data: bytes) -> SynthManifest:
        raw = orjson.loads(data)
        return cls(
            seed=int(raw["seed"]), people=int(raw["people"]),
            today=dt.date.fromisoformat(raw["today"]), part_rows=int(raw["part_rows"]),
            households=int(raw["households"]),
            files=tuple(SynthFile(str(f["name"]), FileKind(f["kind"]), int(f["rows"]))
                        for f in raw["files"]),
        )

    @classmethod
    def load(cls, directory: Path) -> SynthManifest:
        return cls.from_json((directory / MANIFEST_NAME).read_bytes())
