"""Check and claim references: the documented form, unguessable, in the order they were made."""

from __future__ import annotations

import datetime as dt

from rempart.coverage.references import REFERENCE_LENGTH, is_reference, new_reference

MOMENT = dt.datetime(2026, 3, 14, 9, 26, 53, 589_000, tzinfo=dt.UTC)


def test_a_reference_has_the_documented_form() -> None:
    reference = new_reference(at=MOMENT)
    assert len(reference) == REFERENCE_LENGTH
    assert is_reference(reference)


def test_references_of_one_millisecond_differ_by_their_random_part() -> None:
    references = {new_reference(at=MOMENT) for _ in range(2000)}
    assert len(references) == 2000
    # 48 bits of time are the first 9 base32 characters (and 3 bits of the tenth).
    assert len({reference[:9] for reference in references}) == 1
    assert len({reference[10:] for reference in references}) == 2000


def test_references_sort_in_the_order_they_were_made() -> None:
    moments = [MOMENT + dt.timedelta(milliseconds=step) for step in (0, 1, 2, 999, 86_400_000)]
    references = [new_reference(at=moment) for moment in moments]
    assert references == sorted(references)
    assert len(set(references)) == len(references)
