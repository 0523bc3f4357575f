"""The check's two reads: the candidate look-up and the allowance used, on the fast path.

The statements are the ones `check_store` builds with SQLAlchemy Core; here they are
compiled once per dialect and run through `RawReader` (a driver connection per thread,
no result objects), which cuts their cost several times over.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine

from rempart.core.care import GuaranteeKind
from rempart.coverage import check_store
from rempart.coverage.check_store import Candidate
from rempart.coverage.raw_reader import CompiledQuery, RawReader, decode_bool, decode_date
from rempart.coverage.rules import ContractPeriod, GuaranteeRow

_KINDS = {kind.value: kind for kind in GuaranteeKind}  # a dict look-up: Enum's call costs more


class CheckReads:
    def __init__(self, engine: Engine) -> None:
        self._reader = RawReader(engine)
        self._sqlite = self._reader.sqlite
        self._lookups: dict[int, CompiledQuery] = {}
        self._allowance = self._reader.compile(check_store.ALLOWANCE_USED)

    def find(self, *, identity: list[bytes], member: list[bytes], category: str,
             care_date: dt.date) -> list[Candidate]:
        """Beneficiary rows matching both blind indexes, with their contract and the
        guarantees of its tier for the category on the date (none on a miss)."""
        query = self._lookups.get(len(identity))
        if query is None:
            query = self._lookups[len(identity)] = self._reader.compile(
                check_store.candidate_lookup(len(identity)))
        params: dict[str, Any] = {"category": category, "care_date": care_date}
        for i, value in enumerate(identity):
            params[f"identity{i}"] = value
        for i, value in enumerate(member):
            params[f"member{i}"] = value
        by_id: dict[int, Candidate] = {}
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
        return list(by_id.values())

    def allowance_used(self, *, beneficiary_id: int, category: str, start: dt.date,
                       end: dt.date) -> int:
        rows = self._reader.fetchall(self._allowance, {
            "beneficiary_id": beneficiary_id, "category": category, "start": start,
            "end": end})
        return int(rows[0][0])

    def close(self) -> None:
        self._reader.close()

    @staticmethod
    def _guarantee(row: tuple[Any, ...]) -> GuaranteeRow:
        return GuaranteeRow(
            id=row[8], kind=_KINDS[row[9]], rate_bp=row[10], amount_cents=row[11],
            allowance_cents=row[12], period_months=row[13],
            third_party=bool(decode_bool(row[14])),
            valid_from=decode_date(row[15]))  # type: ignore[arg-type]
