"""The chain walk on its own (no database): any single tampering is pinned where it happened."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from rempart.audit import AuditRecord, Checkpoint, SigningKey, TrustedKeys
from rempart.audit.chain import ChainChecker, check_sequence
from rempart.audit.hashing import GENESIS_HASH, chain_hash, leaf_hash, merkle_root
from rempart.audit.store import StoredEntry

KEY = SigningKey.generate()
WHEN = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _chain(size: int) -> list[StoredEntry]:
    entries, prev = [], GENESIS_HASH
    for position in range(1, size + 1):
        record = AuditRecord.create(event="check.answered", occurred_at=WHEN,
                                    subject_id=position, fields=["coverage"],
                                    detail={"n": position})
        entry_hash = chain_hash(prev, leaf_hash(record.canonical_bytes(position)))
        entries.append(StoredEntry(
            position=position,
            content=(record.event, record.occurred_at_us, None, None, None, None, None,
                     record.subject_id, record.fields_text, record.detail_json),
            prev_hash=prev, entry_hash=entry_hash))
        prev = entry_hash
    return entries


def _problems(entries: list[StoredEntry], end: int,
              checkpoints: Sequence[Checkpoint] = ()) -> list[int]:
    checker = ChainChecker(start=1, anchor_hash=GENESIS_HASH, checkpoints=checkpoints)
    for entry in entries:
        checker.feed(entry)
    checker.finish(end=end)
    return [p.position for p in checker.problems()]


def _renumbered(entries: list[StoredEntry]) -> list[StoredEntry]:
    return [dataclasses.replace(e, position=i) for i, e in enumerate(entries, 1)]


@given(st.integers(1, 40))
def test_an_intact_chain_has_no_problem(size: int) -> None:
    assert _problems(_chain(size), size) == []


@given(st.integers(3, 40), st.data(), st.sampled_from(range(10)))
def test_a_changed_column_is_pinned_to_its_row(size: int, data: st.DataObject,
                                               column: int) -> None:
    entries = _chain(size)
    index = data.draw(st.integers(0, size - 1))
    content = list(entries[index].content)
    content[column] = "x" if content[column] != "x" else "y"
    entries[index] = dataclasses.replace(entries[index], content=tuple(content))
    assert _problems(entries, size)[0] == index + 1


@given(st.integers(3, 40), st.data(), st.booleans())
def test_a_deleted_row_is_pinned_to_its_position(size: int, data: st.DataObject,
                                                 renumber: bool) -> None:
    entries = _chain(size)
    index = data.draw(st.integers(0, size - 2))
    del entries[index]
    if renumber:
        entries = _renumbered(entries)
    assert _problems(entries, size - 1 if renumber else size)[0] == index + 1


@given(st.integers(3, 40), st.data())
def test_swapped_rows_are_pinned_to_the_first(size: int, data: st.DataObject) -> None:
    entries = _chain(size)
    index = data.draw(st.integers(0, size - 2))
    entries[index], entries[index + 1] = entries[index + 1], entries[index]
    assert _problems(_renumbered(entries), size)[0] == index + 1


@given(st.integers(3, 40), st.data())
def test_a_well_forged_inserted_row_is_pinned_to_its_position(size: int,
                                                              data: st.DataObject) -> None:
    entries = _chain(size)
    index = data.draw(st.integers(1, size - 1))
    record = AuditRecord.create(event="claim.read", occurred_at=WHEN)
    prev = entries[index - 1].entry_hash
    forged = StoredEntry(position=index + 1,
                         content=(record.event, record.occurred_at_us, None, None, None, None,
                                  None, None, "", record.detail_json),
                         prev_hash=prev,
                         entry_hash=chain_hash(prev, leaf_hash(record.canonical_bytes(index + 1))))
    entries.insert(index, forged)
    assert _problems(_renumbered(entries), size + 1)[0] == index + 1


@settings(max_examples=30)
@given(st.integers(12, 40), st.data())
def test_a_rewrite_with_recomputed_hashes_is_pinned_to_its_checkpoint(
        size: int, data: st.DataObject) -> None:
    entries = _chain(size)
    checkpoints, number = [], 1
    for first in range(1, size + 1, 5):
        last = min(size, first + 4)
        leaves = [e.leaf() for e in entries[first - 1:last]]
        checkpoints.append(Checkpoint(number=number, first=first, last=last,
                                      root=merkle_root(leaves),
                                      last_entry_hash=entries[last - 1].entry_hash,
                                      created_at_us=0).signed(KEY))
        number += 1
    valid, problems = check_sequence(checkpoints, TrustedKeys([KEY.verify_key]))
    assert (len(valid), problems) == (len(checkpoints), [])
    index = data.draw(st.integers(0, size - 1))
    content = list(entries[index].content)
    content[7] = 999_999  # subject_id
    entries[index] = dataclasses.replace(entries[index], content=tuple(content))
    prev = entries[index].prev_hash
    for i in range(index, size):  # the attacker rehashes everything after the edit
        new_hash = chain_hash(prev, entries[i].leaf())
        entries[i] = dataclasses.replace(entries[i], prev_hash=prev, entry_hash=new_hash)
        prev = new_hash
    assert _problems(entries, size, checkpoints)[0] == (index // 5) * 5 + 1
