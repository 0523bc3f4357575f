"""Members rows: validated, then turned into sealed blobs and blind indexes.

Records are named tuples: cheap to build and to pickle, at millions of rows.

Each row of a members file is one beneficiary with the fields of its contract
(denormalised). An `upsert` row adds or changes the beneficiary and its contract; a
`terminate` row ends a contract. Everything personal is sealed here, through
rempart.population.sealing, before it goes anywhere near the database.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from rempart.core.care import MaritalStatus
from rempart.core.errors import InvalidIdentifier
from rempart.core.identifiers import nir_matches_birth_date, validate_nir
from rempart.ingest import fields as f
from rempart.ingest.errors import FieldError
from rempart.ingest.formats import COLUMNS, FileKind, FileMode, MemberOp
from rempart.population.sealing import (
    PersonFields,
    contract_content_mac,
    contract_index,
    identity_index,
    member_index,
    seal_person,
)
from rempart.vault import Vault

_MARITAL = {m.value: m.value for m in MaritalStatus}
_TERMINATE_EMPTY = ("tier", "contract_start", "third_party", "member_number", "rank", "nir",
                    "birth_date", "birth_rank", "last_name", "first_name", "marital_status",
                    "postcode", "departement")


class ContractPart(NamedTuple):
    """A contract as one members row states it; every row of a contract must agree."""

    insurer_id: int
    number_idx: bytes
    number: str  # normalised, sealed only when the contract is new
    tier: str
    start_date: dt.date
    end_date: dt.date | None
    third_party: bool
    content_mac: bytes


class MemberRow(NamedTuple):
    line: int
    contract: ContractPart
    member_idx: bytes
    identity_idx: bytes
    rank: int
    sealed: bytes
    person: PersonFields


class TerminateRow(NamedTuple):
    line: int
    insurer_id: int
    number_idx: bytes
    number: str
    end_date: dt.date


class MemberPreparer:
    """Validates one members row at a time and seals it under the current key."""

    def __init__(self, *, vault: Vault, insurers: dict[str, int],
                 tiers: set[tuple[int, str]], today: dt.date, mode: FileMode) -> None:
        self._vault = vault
        self._insurers = insurers
        self._tiers = tiers
        self._today = today
        self._mode = mode
        self._last_contract: tuple[tuple[str, ...], ContractPart] | None = None

    def prepare(self, line: int, values: list[str]) -> MemberRow | TerminateRow:
        op = values[0]
        if op == MemberOp.UPSERT:
            return self._upsert(line, values)
        if op == MemberOp.TERMINATE:
            if self._mode is FileMode.FULL:
                raise FieldError("op", "terminate is only allowed in a delta file")
            return self._terminate(line, values)
        raise FieldError("op", "must be upsert or terminate")

    def _insurer_id(self, raw: str) -> int:
        insurer_id = self._insurers.get(raw)
        if insurer_id is None:
            f.amc_number("amc_number", raw)
            raise FieldError("amc_number", "unknown insurer (not in an insurers file)")
        return insurer_id

    def _contract(self, values: list[str]) -> ContractPart:
        key = tuple(values[1:7])
        last = self._last_contract
        if last is not None and last[0] == key:  # rows of a household usually follow
            return last[1]
        amc, number, tier, start, end, third_party = key
        insurer_id = self._insurer_id(amc)
        number = f.reference("contract_number", number)
        if (insurer_id, tier) not in self._tiers:
            f.tier("tier", tier)
            raise FieldError("tier", "no guarantee of this insurer has this tier")
        start_date = f.date("contract_start", start)
        end_date = f.optional_date("contract_end", end)
        if end_date is not None and end_date < start_date:
            raise FieldError("contract_end", "is before contract_start")
        paid = f.flag("third_party", third_party)
        vault = self._vault
        part = ContractPart(
            insurer_id=insurer_id,
            number_idx=contract_index(vault, amc, number),
            number=number,
            tier=tier,
            start_date=start_date,
            end_date=end_date,
            third_party=paid,
            content_mac=contract_content_mac(vault, number=number, tier=tier,
                                             start_date=start_date, end_date=end_date,
                                             third_party=paid),
        )
        self._last_contract = (key, part)
        return part

    def _upsert(self, line: int, values: list[str]) -> MemberRow:
        (_op, amc, _number, _tier, _start, _end, _paid, member_number, rank, nir, birth_date,
         birth_rank, last_name, first_name, marital_status, postcode, departement) = values
        contract = self._contract(values)
        member_number = f.reference("member_number", member_number)
        rank_value = f.integer("rank", rank, low=1, high=99)
        born = f.date("birth_date", birth_date)
        if born > self._today:
            raise FieldError("birth_date", "is in the future")
        try:
            nir = validate_nir(f.required("nir", nir))
        except InvalidIdentifier as exc:
            raise FieldError("nir", exc.reason) from None
        if not nir_matches_birth_date(nir, born):
            raise FieldError("nir", "does not match the date of birth")
        status = _MARITAL.get(marital_status)
        if status is None:
            f.choice("marital_status", marital_status, MaritalStatus)
        person = PersonFields(
            nir=nir,
            birth_date=born,
            birth_rank=f.integer("birth_rank", birth_rank, low=1, high=9),
            last_name=f.text("last_name", last_name, max_length=100),
            first_name=f.text("first_name", first_name, max_length=100),
            marital_status=marital_status,
            member_number=member_number,
            postcode=f.postcode("postcode", postcode),
            departement=f.departement("departement", departement),
        )
        vault = self._vault
        member_idx = member_index(vault, amc, member_number)
        return MemberRow(
            line=line,
            contract=contract,
            member_idx=member_idx,
            identity_idx=identity_index(vault, nir, born),
            rank=rank_value,
            sealed=seal_person(vault, person, member_idx=member_idx),
            person=person,
        )

    def _terminate(self, line: int, values: list[str]) -> TerminateRow:
        named = dict(zip(COLUMNS[FileKind.MEMBERS], values, strict=True))
        for name in _TERMINATE_EMPTY:
            f.must_be_empty(name, named[name], "on a terminate row")
        amc = named["amc_number"]
        insurer_id = self._insurer_id(amc)
        number = f.reference("contract_number", named["contract_number"])
        return TerminateRow(line=line, insurer_id=insurer_id,
                            number_idx=contract_index(self._vault, amc, number), number=number,
                            end_date=f.date("contract_end", named["contract_end"]))
