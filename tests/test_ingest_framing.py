"""Whole-file problems: framing, encoding, kind, truncation. Nothing is applied."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ingest_samples import insurer_rows, member_rows, reference_files, write
from rempart.clock import ManualClock
from rempart.ingest.errors import FileRejected, NothingToImport
from rempart.ingest.formats import FileKind
from rempart.ingest.service import Importer
from rempart.runtime import Runtime
from test_ingest_members import snapshot

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


@pytest.fixture
def importer(runtime: Runtime, tmp_path: Path) -> Importer:
    importer = Importer(engine=runtime.engine, vault=runtime.vault,
                        clock=ManualClock(dt.datetime(2026, 3, 2, tzinfo=dt.UTC)))
    importer.import_paths(paths=reference_files(tmp_path / "ref"))
    return importer


def good_members(tmp_path: Path) -> bytes:
    return write(tmp_path / "good.csv", FileKind.MEMBERS, member_rows(4)).read_bytes()


def mangle(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "members.csv"
    path.write_bytes(data)
    return path


CASES = {
    "empty file": (lambda good: b"", "the file is empty"),
    "no trailer (truncated)": (lambda good: good.rsplit(b"#end", 1)[0], "truncated"),
    "cut in the middle of a row": (lambda good: good[: len(good) // 2], "truncated"),
    "trailer with the wrong count": (
        lambda good: good.replace(b"#end:4", b"#end:5"), "announces 5 rows but the file has 4"),
    "unknown header": (lambda good: good.replace(b"#rempart:members:v1", b"#rempart:people:v1"),
                       "unknown header"),
    "unknown version": (lambda good: good.replace(b":v1:", b":v9:"), "unknown header"),
    "wrong column line": (lambda good: good.replace(b"op;amc_number", b"amc_number;op"),
                          "column line does not match"),
    "not UTF-8": (lambda good: good.replace(b"Prenom1;", "Prénom1;".encode("latin-1")),
                  "members.csv:4: is not valid UTF-8"),
    "a control character": (lambda good: good.replace(b"Prenom2;", b"Pre\x07nom2;"),
                            "members.csv:5: first_name: contains a control character"),
    "wrong number of fields": (lambda good: good.replace(b"Prenom3;", b"Prenom3;extra;"),
                               "members.csv:6: has 18 fields, expected 17"),
    "text after the trailer": (lambda good: good + b"upsert\n", "truncated"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_badly_framed_file_is_rejected_whole(case: str, importer: Importer, runtime: Runtime,
                                               tmp_path: Path) -> None:
    make, expected = CASES[case]
    path = mangle(tmp_path, make(good_members(tmp_path)))
    before = snapshot(runtime.engine)
    with pytest.raises(FileRejected) as caught:
        importer.import_paths(paths=[path])
    assert expected in str(caught.value)
    assert "nothing applied" in str(caught.value)
    assert snapshot(runtime.engine) == before


def test_a_file_of_the_wrong_kind_is_rejected(importer: Importer, runtime: Runtime,
                                              tmp_path: Path) -> None:
    members = write(tmp_path / "m.csv", FileKind.MEMBERS, member_rows(2)).read_text()
    header_from_insurers = write(tmp_path / "i.csv", FileKind.INSURERS,
                                 insurer_rows()).read_text().splitlines()[0]
    path = tmp_path / "wrong-kind.csv"
    path.write_text("\n".join([header_from_insurers, *members.splitlines()[1:]]) + "\n")
    before = snapshot(runtime.engine)
    with pytest.raises(FileRejected, match="column line does not match the insurers format"):
        importer.import_paths(paths=[path])
    assert snapshot(runtime.engine) == before


def test_a_missing_path_is_an_error(importer: Importer, tmp_path: Path) -> None:
    with pytest.raises(NothingToImport, match="no such file"):
        importer.import_paths(paths=[tmp_path / "nope.csv"])
    (tmp_path / "empty-dir").mkdir()
    with pytest.raises(NothingToImport, match=r"no \*\.csv"):
        importer.import_paths(paths=[tmp_path / "empty-dir"])
