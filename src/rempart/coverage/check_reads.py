"""The check's one read: the candidate look-up with the allowance used, on the fast path.

The statement is `check_store`'s look-up with the allowance used under each guarantee
row as one more column (`allowance_sql`), so a check sends one SELECT. It is compiled
once per dialect and run through `RawReader` (a driver connection per thread, no
result objects), which cuts its cost several times over.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from rempart.core.care import GuaranteeKind
from rempart.coverage import check_store
from rempart.coverage.allowance_sql import allowance_used_column
from rempart.coverage.check_store import Candidate
from rempart.coverage.raw_reader import CompiledQuery, RawReader, decode_bool, decode_date
from rempart.coverage.rules import ContractPeriod, GuaranteeRow
from rempart.storage.thread_connections import ThreadConnections

_KINDS = {kind.value: kind for kind in GuaranteeKind}  # a dict look-up: Enum's call costs more


@dataclass(frozen=True, slots=True)
class Lookup:
    """What the look-up found: the candidates, and the allowance used under each of
    their guarantees, by (beneficiary id, guarantee id)."""

    candidates: list[Candidate]
    used_cents: dict[tuple[int, int], int]

    def used(self, candidate: Candidate, guarantee: GuaranteeRow) -> int:
        return self.used_cents[candidate.beneficiary_id, guarantee.id]


class CheckReads:
    def __init__(self, engine: Engine, *, allowance: bool = True,
                 connections: ThreadConnections | None = None) -> None:
        """`allowance=False` leaves the allowance column out (the bench's bare look-up
        reads the candidate rows only, as it always has: its floor stays the same);
        `connections` as for `RawReader`."""
        self._reader = RawReader(engine, connections=connections)
        self._allowance = allowance
        self._lookups: dict[int, CompiledQuery] = {}

    def find(self, *, identity: list[bytes], member: list[bytes], category: str,
             care_date: dt.date) -> Lookup:
        """Beneficiary rows matching both blind indexes, with their contract, the
        guarantees of its tier for the category on the date (none on a miss) and the
        allowance used under each."""
        query = self._lookups.get(len(identity))
        if query is None:
            statement = check_store.candidate_lookup(len(identity))
            if self._allowance:
                statement = statement.add_columns(allowance_used_column())
            query = self._lookups[len(identity)] = self._reader.compile(statement)
        params: dict[str, Any] = {"category": category, "care_date": care_date}
        for i, value in enumerate(identity):
            params[f"identity{i}"] = value
        for i, value in enumerate(member):
            params[f"member{i}"] = value
        by_id: dict[int, Candidate] = {}
        used: dict[tuple[int, int], int] = {}
        for row in self._reader.fetchall(query, params):
            if row[0] is None:
                continue  # the anchor row of a miss
            candidate = by_id.get(row[0])
            if candidate is None:
                candidate = by_id[row[0]] = Candidate(
                    beneficiary_id=row[0], key_version=row[1], member_idx=bytes(row[2]),
                    sealed=bytes(row[3]),
                    contract=ContractPeriod(start=decode_date(row[4]),  # type: ignore[arg-type]
                                            end=decode_date(row[5])),
                    contract_third_party=bool(row[6]), amc_number=row[7], guarantees=[])
            if row[8] is not None:
                candidate.guarantees.append(self._guarantee(row))
                if self._allowance:  # the allowance column comes after the look-up's 16
                    used[row[0], row[8]] = int(row[16])
        return Lookup(candidates=list(by_id.values()), used_cents=used)

    def close(self) -> None:
        self._reader.close()

    @staticmethod
    def _guarantee(row: tuple[Any, ...]) -> GuaranteeRow:
        return GuaranteeRow(
            id=row[8], kind=_KINDS[row[9]], rate_bp=row[10], amount_cents=row[11],
            allowance_cents=row[12], period_months=row[13],
            third_party=bool(decode_bool(row[14])),
            valid_from=decode_date(row[15]))  # type: ignore[arg-type]
