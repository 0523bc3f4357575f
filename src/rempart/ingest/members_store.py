"""Applying prepared members rows batch by batch, with memory that does not grow with the file.

Natural keys are (insurer, member_idx) for a beneficiary and (insurer, number_idx) for
a contract. Whether a key already appeared earlier in the same file is answered by the
database itself: rows this file inserted have ids from the file's first new id on,
and stored rows this file touched are noted in a temporary table. So a duplicate
member, a contract whose rows disagree, or a contract both changed and terminated is
caught however far apart its rows are, and only the current batch is ever in memory.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from rempart.ingest.bulk import Bulk, ContractRow
from rempart.ingest.errors import Problems
from rempart.ingest.members import ContractPart, MemberRow, PreparedChunk, TerminateRow
from rempart.population.sealing import contract_content_mac
from rempart.vault import Vault

_SEEN_CONTRACT = 1
_SEEN_MEMBER = 2
_TERMINATED = b"terminated"  # the seen-mark of a contract ended by this file


@dataclass
class MembersOutcome:
    contracts_inserted: int = 0
    contracts_updated: int = 0
    contracts_terminated: int = 0
    members_inserted: int = 0
    members_updated: int = 0
    members_unchanged: int = 0


def _contract_field_disagreeing(a: ContractPart, b: ContractPart) -> str:
    for name, column in (("tier", "tier"), ("start_date", "contract_start"),
                         ("end_date", "contract_end"), ("third_party", "third_party")):
        if getattr(a, name) != getattr(b, name):
            return column
    return "contract_number"


class MembersApplier:
    def __init__(self, *, bulk: Bulk, vault: Vault, problems: Problems) -> None:
        self._bulk = bulk
        self._vault = vault
        self._problems = problems
        self._first_contract_id, self._first_member_id = bulk.start()
        self._next_contract_id = self._first_contract_id
        self._next_member_id = self._first_member_id
        # (table, insurer) -> whether the insurer had no row in the table at the file's start
        self._fresh: dict[tuple[str, int], bool] = {}
        # The last contract of the previous chunk (key, id, content_mac): a household cut by
        # a chunk boundary states it again at the start of the next chunk.
        self._last_contract: tuple[tuple[int, bytes], int, bytes] | None = None
        self.outcome = MembersOutcome()

    def finish(self) -> None:
        self._bulk.finish(self._next_contract_id, self._next_member_id)

    def apply(self, chunk: PreparedChunk) -> None:
        slot_ids = self._inserted_fresh_contracts(chunk)
        if slot_ids is None:
            contract_ids = self._resolve_contracts(chunk)
            slot_ids = [contract_ids.get((part.insurer_id, part.number_idx))
                        for part in chunk.contracts]
        self._apply_members(chunk, slot_ids)

    def _inserted_fresh_contracts(self, chunk: PreparedChunk) -> Sequence[int | None] | None:
        """The usual chunk of a first load, column-wise: each of its contracts stated once
        (a household's rows together), of one insurer with no stored contract when the
        file started, inserted without a look-up; the ids of chunk.contracts, or None
        when the chunk needs the careful path (_resolve_contracts).

        The rows are zipped from the contracts' columns, with no Python per contract. A
        contract stated twice in the chunk (apart, or disagreeing) goes the careful way,
        which names the line; one stated in an earlier chunk trips the unique natural
        key, the batch is undone, and it goes the careful way too.
        """
        contracts = chunk.contracts
        if not contracts or chunk.ends or self._problems:
            return None
        columns = list(zip(*contracts, strict=True))  # ContractPart's fields, as columns
        insurer_ids = set(columns[1])
        if len(insurer_ids) != 1 or not self._is_fresh("contracts", *insurer_ids):
            return None
        keys = list(zip(columns[1], columns[2], strict=True))
        if len(set(keys)) != len(keys):
            return None
        skip, last = 0, self._last_contract
        if last is not None and keys[0] == last[0]:  # a household cut by the chunk boundary
            if contracts[0].content_mac != last[2]:
                return None
            skip = 1
        first_id, count, bulk = self._next_contract_id, len(contracts) - skip, self._bulk
        ids = range(first_id, first_id + count)
        rows = zip(ids, *(columns[at][skip:] for at in (1, 2)), repeat(self._vault.current_version),
                   *(columns[at][skip:] for at in (3, 8, 4, 5, 6, 7)), repeat(bulk.now))
        if not bulk.insert_new_contracts(rows):
            return None
        self._next_contract_id += count
        self.outcome.contracts_inserted += count
        slot_ids = [last[1]] if skip and last is not None else []
        slot_ids.extend(ids)
        self._last_contract = (keys[-1], slot_ids[-1], contracts[-1].content_mac)
        return slot_ids

    # -- contracts -----------------------------------------------------------

    def _stated_contracts(self, chunk: PreparedChunk) -> dict[tuple[int, bytes], ContractPart]:
        """Each contract of the chunk as it is first stated; later statements must agree."""
        stated: dict[tuple[int, bytes], ContractPart] = {}
        disagreeing: dict[int, ContractPart] = {}  # position in chunk.contracts: first statement
        for at, part in enumerate(chunk.contracts):
            key = (part.insurer_id, part.number_idx)
            first = stated.get(key)
            if first is None:
                stated[key] = part
            elif first.content_mac != part.content_mac:
                disagreeing[at] = first
        if disagreeing:  # every row stating a disagreeing contract is named
            for line, at in zip(chunk.members.lines, chunk.members.slots, strict=True):
                first = disagreeing.get(at)
                if first is not None:
                    column = _contract_field_disagreeing(first, chunk.contracts[at])
                    self._problems.add(line, column,
                                       f"disagrees with line {first.line} on the same contract")
        return stated

    def _ending_contracts(self, ends: list[TerminateRow],
                          stated: dict[tuple[int, bytes], ContractPart]
                          ) -> dict[tuple[int, bytes], TerminateRow]:
        ending: dict[tuple[int, bytes], TerminateRow] = {}
        for end in ends:
            key = (end.insurer_id, end.number_idx)
            if key in ending:
                self._problems.add(end.line, "contract_number",
                                   f"contract already terminated on line {ending[key].line}")
            elif key in stated:
                self._problems.add(end.line, "contract_number",
                                   f"contract also changed on line {stated[key].line} of this file")
            else:
                ending[key] = end
        return ending

    def _resolve_contracts(self, chunk: PreparedChunk) -> dict[tuple[int, bytes], int]:
        """Insert, update or terminate this chunk's contracts; return their ids."""
        stated = self._stated_contracts(chunk)
        ending = self._ending_contracts(chunk.ends, stated)
        ids = None
        if not ending and not self._problems:
            ids = self._inserted_unlooked_contracts(stated)
        if ids is None:
            ids = self._looked_up_contracts(stated, ending)
        if chunk.contracts:
            last = chunk.contracts[-1]
            key = (last.insurer_id, last.number_idx)
            self._last_contract = (key, ids[key], last.content_mac) if key in ids else None
        return ids

    def _inserted_unlooked_contracts(self, stated: dict[tuple[int, bytes], ContractPart]
                                     ) -> dict[tuple[int, bytes], int] | None:
        """Insert the chunk's contracts without looking them up, when safe and it works
        (as _inserted_unlooked for members); None when they need the looked-up path."""
        insurer_ids = {insurer_id for insurer_id, _idx in stated}
        if len(insurer_ids) != 1 or not self._is_fresh("contracts", *insurer_ids):
            return None
        ids: dict[tuple[int, bytes], int] = {}
        inserts: list[tuple[Any, ...]] = []
        bulk, version, last = self._bulk, self._vault.current_version, self._last_contract
        next_id = self._next_contract_id
        for key, part in stated.items():
            if last is not None and key == last[0]:
                if part.content_mac != last[2]:
                    return None  # the looked-up path names the disagreement
                ids[key] = last[1]
                continue
            ids[key] = next_id
            inserts.append((next_id, key[0], key[1], version, part.sealed, part.content_mac,
                            part.tier, part.start_date, part.end_date, part.third_party,
                            bulk.now))
            next_id += 1
        if not bulk.insert_new_contracts(inserts):
            return None
        self._next_contract_id = next_id
        self.outcome.contracts_inserted += len(inserts)
        return ids

    def _is_fresh(self, table: str, insurer_id: int) -> bool:
        """Whether the insurer had no row in the table when the file started: asked
        before this file's first write of it there, then remembered."""
        fresh = self._fresh.get((table, insurer_id))
        if fresh is None:
            fresh = self._fresh[table, insurer_id] = not self._bulk.has_rows(table, insurer_id)
        return fresh

    def _looked_up_contracts(self, stated: dict[tuple[int, bytes], ContractPart],
                             ending: dict[tuple[int, bytes], TerminateRow]
                             ) -> dict[tuple[int, bytes], int]:
        problems = self._problems
        ids: dict[tuple[int, bytes], int] = {}
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        seen_new: list[tuple[int, int, bytes, bytes]] = []
        bulk, version = self._bulk, self._vault.current_version
        for insurer_id, keys in _by_insurer([*stated, *ending]).items():
            stored = {r[1]: r for r in bulk.find_contracts(insurer_id, keys)}
            seen = bulk.find_seen(_SEEN_CONTRACT, insurer_id,
                                  [k for k, r in stored.items() if r[0] < self._first_contract_id])
            for idx in keys:
                key = (insurer_id, idx)
                old = stored.get(idx)
                part = stated.get(key)
                if part is None:
                    self._terminate(ending[key], old, seen, updates, seen_new)
                    continue
                if old is None:
                    ids[key] = contract_id = self._take_contract_id()
                    inserts.append((contract_id, insurer_id, idx, version, part.sealed,
                                    part.content_mac, part.tier, part.start_date,
                                    part.end_date, part.third_party, bulk.now))
                    continue
                earlier = self._earlier_mark(old, seen)
                if earlier == _TERMINATED:
                    problems.add(part.line, "contract_number",
                                 "contract also terminated earlier in this file")
                elif earlier is not None and earlier != part.content_mac:
                    problems.add(part.line, "contract_number", "contract fields disagree with "
                                 "an earlier row of the same contract in this file")
                else:
                    ids[key] = old[0]
                    if earlier is None:
                        seen_new.append((_SEEN_CONTRACT, insurer_id, idx, part.content_mac))
                        if old[2] != part.content_mac:
                            self.outcome.contracts_updated += 1
                            updates.append((part.tier, part.start_date, part.end_date,
                                            part.third_party, part.content_mac, bulk.now,
                                            old[0]))
        bulk.insert_contracts(inserts)
        bulk.update_contracts(updates)
        bulk.add_seen(seen_new)
        self.outcome.contracts_inserted += len(inserts)
        return ids

    def _earlier_mark(self, old: ContractRow, seen: dict[bytes, bytes]) -> bytes | None:
        """The mark an earlier row of this file left on a stored contract, if any."""
        if old[0] >= self._first_contract_id:
            return old[2]  # inserted by this file: its content_mac is the earlier rows'
        return seen.get(old[1])

    def _terminate(self, end: TerminateRow, old: ContractRow | None, seen: dict[bytes, bytes],
                   updates: list[tuple[Any, ...]],
                   seen_new: list[tuple[int, int, bytes, bytes]]) -> None:
        if old is None:
            self._problems.add(end.line, "contract_number", "unknown contract for this insurer")
            return
        if self._earlier_mark(old, seen) is not None:
            self._problems.add(end.line, "contract_number",
                               "contract also appears earlier in this file")
            return
        _id, idx, mac, tier, start, _end, third_party = old
        if end.end_date < start:
            self._problems.add(end.line, "contract_end", "is before the contract's start")
            return
        seen_new.append((_SEEN_CONTRACT, end.insurer_id, idx, _TERMINATED))
        new_mac = contract_content_mac(self._vault, number=end.number, tier=tier,
                                       start_date=start, end_date=end.end_date,
                                       third_party=third_party)
        if new_mac != mac:
            updates.append((tier, start.isoformat(), end.end_date.isoformat(), third_party,
                            new_mac, self._bulk.now,
                            old[0]))
            self.outcome.contracts_terminated += 1

    def _take_contract_id(self) -> int:
        self._next_contract_id += 1
        return self._next_contract_id - 1

    # -- beneficiaries -------------------------------------------------------

    def _apply_members(self, chunk: PreparedChunk, slot_ids: Sequence[int | None]) -> None:
        """slot_ids: the id of each of chunk.contracts (None: refused, a problem noted)."""
        if not self._problems and self._inserted_unlooked(chunk, slot_ids):
            return
        problems, contracts = self._problems, chunk.contracts
        first_line: dict[tuple[int, bytes], int] = {}
        by_insurer: dict[int, list[tuple[MemberRow, int]]] = defaultdict(list)
        for row in chunk.members.rows():
            line, at, member_idx = row[0], row[1], row[2]
            part = contracts[at]
            key = (part.insurer_id, member_idx)
            earlier = first_line.get(key)
            if earlier is not None:
                problems.add(line, "member_number", f"same member as line {earlier} of this file")
                continue
            first_line[key] = line
            contract_id = slot_ids[at]
            if contract_id is not None:
                by_insurer[part.insurer_id].append((row, contract_id))
        bulk, version, now = self._bulk, self._vault.current_version, self._bulk.now
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        seen_new: list[tuple[int, int, bytes, bytes]] = []
        for insurer_id, rows in by_insurer.items():
            stored = {r[1]: r for r in bulk.find_members(insurer_id, [r[2] for r, _ in rows])}
            seen = bulk.find_seen(_SEEN_MEMBER, insurer_id,
                                  [k for k, r in stored.items() if r[0] < self._first_member_id])
            for (line, _at, member_idx, identity_idx, rank, sealed, mac), contract_id in rows:
                old = stored.get(member_idx)
                if old is None:
                    inserts.append((self._take_member_id(), insurer_id, contract_id, rank,
                                    member_idx, identity_idx, version, sealed, mac, now))
                elif old[0] >= self._first_member_id or member_idx in seen:
                    problems.add(line, "member_number",
                                 "same member as an earlier row of this file")
                else:
                    seen_new.append((_SEEN_MEMBER, insurer_id, member_idx, b""))
                    if old[2] == mac and old[3] == contract_id:
                        self.outcome.members_unchanged += 1
                    else:
                        updates.append((contract_id, rank, identity_idx, version, sealed, mac,
                                        now, old[0]))
        bulk.insert_members(inserts)
        bulk.update_members(updates)
        bulk.add_seen(seen_new)
        self.outcome.members_inserted += len(inserts)
        self.outcome.members_updated += len(updates)

    def _inserted_unlooked(self, chunk: PreparedChunk, slot_ids: Sequence[int | None]) -> bool:
        """Insert the chunk's members without looking them up first, when that is safe
        and works; the rows are zipped from the chunk's columns, with no Python per row.

        Safe for a chunk of one insurer with no stored beneficiary when the file started
        (a first full load): its rows can only meet members this file inserted, and the
        unique natural key then catches a duplicate; the batch is undone and the chunk
        takes the looked-up path, which names the line.
        """
        insurer_ids = {part.insurer_id for part in chunk.contracts}
        if len(insurer_ids) != 1 or not self._is_fresh("beneficiaries", *insurer_ids):
            return False
        (insurer_id,) = insurer_ids
        if None in slot_ids:
            return False
        members, first_id = chunk.members, self._next_member_id
        count = len(members.lines)
        rows = zip(range(first_id, first_id + count), repeat(insurer_id),
                   map(slot_ids.__getitem__, members.slots), members.ranks,
                   members.member_idxs, members.identity_idxs,
                   repeat(self._vault.current_version), members.sealed, members.macs,
                   repeat(self._bulk.now))
        if not self._bulk.insert_new_members(rows):
            return False
        self._next_member_id += count
        self.outcome.members_inserted += count
        return True

    def _take_member_id(self) -> int:
        self._next_member_id += 1
        return self._next_member_id - 1


def _by_insurer(keys: list[tuple[int, bytes]]) -> dict[int, list[bytes]]:
    grouped: dict[int, list[bytes]] = defaultdict(list)
    for insurer_id, idx in keys:
        grouped[insurer_id].append(idx)
    return grouped
