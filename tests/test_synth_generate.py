"""generate_population as a whole: reproducibility, progress, arguments, memory."""

from __future__ import annotations

import datetime as dt
import tracemalloc
from pathlib import Path

import pytest

from rempart.ingest.formats import FileKind
from rempart.synth import SynthError, generate_population

TODAY = dt.date(2026, 6, 1)


def _file_bytes(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    first = generate_population(out=tmp_path / "a", people=1_500, seed=7, today=TODAY)
    generate_population(out=tmp_path / "b", people=1_500, seed=7, today=TODAY)
    other = generate_population(out=tmp_path / "c", people=1_500, seed=8, today=TODAY)
    assert _file_bytes(tmp_path / "a") == _file_bytes(tmp_path / "b")
    a, c = _file_bytes(tmp_path / "a"), _file_bytes(tmp_path / "c")
    assert a["insurers.csv"] == c["insurers.csv"]
    members_a = b"".join(v for k, v in a.items() if k.startswith("members-"))
    members_c = b"".join(v for k, v in c.items() if k.startswith("members-"))
    assert members_a != members_c
    same_size = (FileKind.INSURERS, FileKind.GUARANTEES, FileKind.ORGANISATIONS,
                 FileKind.MEMBERS)
    assert [first.counts[k] for k in same_size] == [other.counts[k] for k in same_size]


def test_progress_is_reported_up_to_the_last_person(tmp_path: Path) -> None:
    seen: list[int] = []
    generate_population(out=tmp_path / "p", people=12_000, seed=1, today=TODAY,
                        on_progress=seen.append)
    assert seen == sorted(seen)
    assert seen[-1] == 12_000
    assert len(seen) >= 2


@pytest.mark.parametrize(("people", "part_rows"), [(0, 100), (-5, 100), (100, 3)])
def test_bad_arguments_are_refused_before_writing(tmp_path: Path, people: int,
                                                  part_rows: int) -> None:
    with pytest.raises(SynthError):
        generate_population(out=tmp_path / "x", people=people, seed=1, part_rows=part_rows,
                            today=TODAY)
    assert not (tmp_path / "x").exists()


def test_a_non_empty_output_directory_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(SynthError, match="not an empty directory"):
        generate_population(out=tmp_path, people=10, seed=1, today=TODAY)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_exact_population_size_even_when_the_last_household_is_cut(tmp_path: Path) -> None:
    for people in (1, 2, 3, 17):
        manifest = generate_population(out=tmp_path / str(people), people=people, seed=3,
                                       today=TODAY)
        assert manifest.counts[FileKind.MEMBERS] == people


def _peak_bytes(directory: Path, people: int) -> int:
    tracemalloc.start()
    try:
        generate_population(out=directory, people=people, seed=5, part_rows=2_000, today=TODAY)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_population(tmp_path: Path) -> None:
    small = _peak_bytes(tmp_path / "small", 1_000)
    large = _peak_bytes(tmp_path / "large", 8_000)
    assert large < small * 1.1 + 256 * 1024, (small, large)
