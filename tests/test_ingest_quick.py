"""The members quick test (one regular expression per line) against the field parsers.

The quick path may leave a line to the parsers, never accept one they refuse, and
what it accepts must come out exactly as the parsers would have made it.
"""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.fr.nir import calc_check_digits

from ingest_samples import AMC, TIERS, person_row
from rempart.ingest import fields
from rempart.ingest.errors import Problems
from rempart.ingest.formats import FileMode
from rempart.ingest.members import MemberPreparer
from rempart.vault import Keyring, Vault

TODAY = dt.date(2026, 3, 2)
VAULT = Vault(Keyring.generate())
PREPARER = MemberPreparer(vault=VAULT, insurers={AMC: 1}, tiers={(1, TIERS[0])}, today=TODAY,
                          mode=FileMode.FULL)
TRICKY = ["", " ", "0", "01", "1", "9", "10", "99", "100", "٣", "2A", "2B", "20", "97", "971",
          "977", "00000", "01000", "98999", "99000", "1900-01-01", "1899-12-31", "2024-02-29",
          "2025-02-29", "2026-03-02", "2026-03-03", "2021-01-01", "1980-04-31", "19800101",
          "upsert", "UPSERT", "married", "Married", "x" * 100, "x" * 101, " X", "X ", "\u00a0X",
          "m0001", "M-1/2.3", "-M1", "ESSENTIEL", "essentiel", AMC, "999000003"]
VALUES = st.one_of(st.sampled_from(TRICKY),
                   st.text(alphabet="0123456789AB-/. aé\u00a0٣", max_size=16))


def outcome(line: str) -> tuple[object, ...]:
    problems = Problems("")
    accepted = PREPARER._validate([(3, line)], problems)
    return (accepted.contracts, accepted.lines, accepted.slots, accepted.member_keys,
            [tuple(p) for p in accepted.people], accepted.ranks, problems.kept)


def careful_outcome(line: str) -> tuple[object, ...]:
    with mock.patch.object(fields, "members_upsert_quick", return_value=None):
        return outcome(line)


@pytest.mark.parametrize("column", range(1, 17))
def test_each_tricky_value_in_each_column_gives_what_the_parsers_give(column: int) -> None:
    for person in (0, 1, 2):
        for value in TRICKY:
            row = person_row(person)
            row[column] = value
            line = ";".join(row)
            assert outcome(line) == careful_outcome(line), (column, value)


@settings(max_examples=300, deadline=None)
@given(person=st.integers(0, 5_000), changes=st.dictionaries(st.integers(1, 16), VALUES,
                                                             max_size=2))
def test_the_quick_path_accepts_nothing_the_parsers_refuse_and_changes_nothing(
        person: int, changes: dict[int, str]) -> None:
    row = person_row(person)
    for column, value in changes.items():
        row[column] = value
    line = ";".join(row)
    assert outcome(line) == careful_outcome(line)


@settings(max_examples=200, deadline=None)
@given(person=st.integers(0, 5_000), year=st.integers(1900, 2026), day=st.integers(0, 500))
def test_a_nir_and_a_date_of_birth_agree_on_both_paths(person: int, year: int, day: int) -> None:
    row = person_row(person)
    born = dt.date(year, 1, 1) + dt.timedelta(days=day)
    row[10] = born.isoformat()
    line = ";".join(row)
    assert outcome(line) == careful_outcome(line)


def test_the_quick_path_takes_the_usual_row() -> None:
    line = ";".join(person_row(7))
    assert fields.members_upsert_quick(line) is not None
    assert outcome(line)[1] == [3]


def test_every_single_character_change_of_a_nir_gives_what_the_parsers_give() -> None:
    for person in (0, 1, 2, 13):
        for at in range(15):
            for char in "0123456789AB":
                row = person_row(person)
                row[9] = row[9][:at] + char + row[9][at + 1:]
                line = ";".join(row)
                assert outcome(line) == careful_outcome(line), (at, char)


def test_a_whole_chunk_gives_what_its_lines_give_and_leaves_any_doubt_to_them() -> None:
    rows = [person_row(i, household=i // 2, rank=1 + i % 2) for i in range(40)]
    rows[5][9] = rows[5][9][:5] + "2A" + rows[5][9][7:]  # Corsica: its key changes
    rows[5][9] = rows[5][9][:13] + calc_check_digits(rows[5][9])
    text = "".join(";".join(row) + "\n" for row in rows)
    problems = Problems("")
    by_lines = PREPARER._validate(enumerate(text.splitlines(), start=3), problems)
    assert not problems.kept
    assert PREPARER._validate_whole(3, text) == by_lines
    for column, value in ((9, rows[7][9][:13] + "00"), (8, "01"), (10, "1980-02-30"),
                          (1, "999000003"), (3, "essentiel")):
        odd = [list(row) for row in rows]
        odd[7][column] = value
        assert PREPARER._validate_whole(3, "".join(";".join(r) + "\n" for r in odd)) is None
    assert PREPARER._validate_whole(3, text.rstrip("\n")) is None
