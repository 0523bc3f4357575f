"""Members rows: validated a chunk at a time, then sealed and indexed column-wise.

Each row of a members file is one beneficiary with the fields of its contract
(denormalised). An `upsert` row adds or changes the beneficiary and its contract; a
`terminate` row ends a contract. Everything personal is sealed here, through
rempart.population.sealing, before it goes anywhere near the database: a prepared
chunk holds blind indexes, fingerprints and ciphertext, never a name or a NIR.

A chunk is validated whole when one regular expression accepts every line of it
(fields.members_upsert_chunk_quick) and its dates of birth, NIR keys and contracts
pass: then column by column from one split, with almost no Python per row. Otherwise
line by line: the same quick test per line, and a line it does not accept outright
goes through the field parsers, which accept it or raise the FieldError naming the
field and the rule. The cryptography then runs once per column over the chunk's
accepted rows.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from rempart.core.care import MaritalStatus
from rempart.core.errors import InvalidIdentifier
from rempart.core.identifiers import nir_key_ok, nir_matches_birth_date, validate_nir
from rempart.ingest import fields as f
from rempart.ingest.errors import FieldError, Problem, Problems
from rempart.ingest.formats import COLUMNS, DELIMITER, FileKind, FileMode, MemberOp
from rempart.ingest.framing import clean_text, count_lines, sound_lines
from rempart.population import sealing
from rempart.vault import Vault

_MARITAL = frozenset(m.value for m in MaritalStatus)
_UPSERT = MemberOp.UPSERT.value
_TERMINATE_EMPTY = ("tier", "contract_start", "third_party", "member_number", "rank", "nir",
                    "birth_date", "birth_rank", "last_name", "first_name", "marital_status",
                    "postcode", "departement")
_NAME_MAX = 100
# The person's fields in sealing.PERSON_FIELDS order, from a row in the file's column order.
_PERSON_COLUMNS = (9, 10, 11, 12, 13, 14, 7, 15, 16)
_PERSON_OF_ROW = operator.itemgetter(*_PERSON_COLUMNS)


class ContractPart(NamedTuple):
    """A contract as rows of one chunk state it; every row of a contract must agree."""

    line: int  # the first line of the chunk stating it so
    insurer_id: int
    number_idx: bytes
    sealed: bytes  # the contract number, written only if the contract is new
    tier: str
    start_date: str  # ISO dates: date objects cost more to pickle than the rest of the row
    end_date: str | None
    third_party: bool
    content_mac: bytes

    def __reduce__(self) -> tuple[Callable[..., ContractPart], tuple[object, ...]]:
        # As a plain tuple: a named tuple's default pickling runs Python code per record.
        return _contract_part, tuple(self)


def _contract_part(*values: Any) -> ContractPart:
    return tuple.__new__(ContractPart, values)


MemberRow = tuple[int, int, bytes, bytes, int, bytes, bytes]
"""line, contract (position in the chunk's contracts), member_idx, identity_idx, rank,
sealed person, content_mac: one row of MemberColumns."""


@dataclass(frozen=True)
class MemberColumns:
    """The chunk's accepted beneficiaries, column by column: lists pickle and zip into
    the insert's rows at C speed, where a tuple per row would cost Python work twice."""

    lines: list[int]
    slots: list[int]  # each row's contract: its position in the chunk's contracts
    member_idxs: list[bytes]
    identity_idxs: list[bytes]
    ranks: list[int]
    sealed: list[bytes]
    macs: list[bytes]

    def rows(self) -> Iterator[MemberRow]:
        return zip(self.lines, self.slots, self.member_idxs, self.identity_idxs, self.ranks,
                   self.sealed, self.macs, strict=True)


class TerminateRow(NamedTuple):
    line: int
    insurer_id: int
    number_idx: bytes
    number: str
    end_date: dt.date


@dataclass(frozen=True)
class PreparedChunk:
    contracts: list[ContractPart]
    members: MemberColumns
    ends: list[TerminateRow]
    lines: int  # data lines in the chunk, good or bad
    problems: list[Problem]
    problem_total: int


_Contract = tuple[int, int, str, str, str, str, str, bool]
"""line, insurer_id, amc, number, tier, start_date, end_date ("" if none), third_party:
validated, dates as YYYY-MM-DD."""


@dataclass
class _Accepted:
    """The chunk's valid rows, column by column, before the cryptography."""

    contracts: list[_Contract] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)  # each row's position in `contracts`
    member_keys: list[tuple[str, str]] = field(default_factory=list)
    people: list[Sequence[str]] = field(default_factory=list)  # sealing.PERSON_FIELDS order
    ranks: list[int] = field(default_factory=list)
    ends: list[TerminateRow] = field(default_factory=list)


class MemberPreparer:
    """Validates and seals members rows under the current key, a chunk at a time."""

    def __init__(self, *, vault: Vault, insurers: dict[str, int],
                 tiers: set[tuple[int, str]], today: dt.date, mode: FileMode) -> None:
        self._vault = vault
        self._insurers = insurers
        self._tiers = tiers
        self._today = today
        self._mode = mode
        self._past_dates = f.dates_until(today)

    def prepare_chunk(self, first_line: int, raw: bytes) -> PreparedChunk:
        problems = Problems("")
        text = clean_text(raw)
        accepted = None if text is None else self._validate_whole(first_line, text)
        if accepted is None:
            accepted = self._validate(sound_lines(FileKind.MEMBERS, first_line, raw, problems),
                                      problems)
        contracts = self._seal_contracts(accepted.contracts)
        return PreparedChunk(contracts, self._seal_members(accepted), accepted.ends,
                             count_lines(raw), problems.kept, problems.total)

    # -- validation ----------------------------------------------------------

    def _validate_whole(self, first_line: int, text: str) -> _Accepted | None:
        """The chunk column by column, if the quick test accepts every line of it (the
        usual chunk); else None, and _validate takes it line by line."""
        if not text.endswith("\n") or f.members_upsert_chunk_quick(text) is None:
            return None
        flat = text.replace("\n", DELIMITER).split(DELIMITER)
        flat.pop()  # after the last line's newline
        width = len(COLUMNS[FileKind.MEMBERS])
        columns = [flat[at::width] for at in range(width)]
        if (not all(map(self._past_dates.__contains__, columns[10]))
                or not all(map(nir_key_ok, columns[9]))):
            return None
        contracts: list[_Contract] = []
        slots: list[int] = []
        last_key = None
        for line, key in enumerate(zip(*columns[1:7], strict=True), start=first_line):
            if key != last_key:  # rows of a household follow each other
                contract = self._known_contract(line, key)
                if contract is None:
                    return None
                contracts.append(contract)
                last_key = key
            slots.append(len(contracts) - 1)
        return _Accepted(contracts=contracts, slots=slots,
                         lines=list(range(first_line, first_line + len(slots))),
                         member_keys=list(zip(columns[1], columns[7], strict=True)),
                         people=list(zip(*(columns[at] for at in _PERSON_COLUMNS), strict=True)),
                         ranks=list(map(int, columns[8])))

    def _validate(self, lines: Iterable[tuple[int, str]], problems: Problems) -> _Accepted:
        out = _Accepted()
        quick, past_dates, person_of = f.members_upsert_quick, self._past_dates, _PERSON_OF_ROW
        last_key: list[str] = []
        for line, text in lines:
            v = text.split(DELIMITER)
            try:
                if v[0] != _UPSERT:
                    out.ends.append(self._terminate(line, v))
                    continue
                matched = quick(text) is not None
                key = v[1:7]
                if key != last_key:  # rows of a household follow each other
                    out.contracts.append((matched and self._known_contract(line, key))
                                         or self._contract(line, v))
                    last_key = key
                if matched and v[10] in past_dates and nir_key_ok(v[9]):
                    person, rank = person_of(v), int(v[8])
                else:
                    person, rank = self._person(v)
            except FieldError as exc:
                problems.add(line, exc.field, exc.reason)
                continue
            out.lines.append(line)
            out.slots.append(len(out.contracts) - 1)
            out.member_keys.append((v[1], person[sealing.MEMBER_NUMBER_AT]))
            out.people.append(person)
            out.ranks.append(rank)
        return out

    def _known_contract(self, line: int, key: Sequence[str]) -> _Contract | None:
        """The contract of a row the quick test accepted (its fields amc_number to
        third_party), or None if the careful path must judge it (an unknown insurer or
        tier, an impossible date, an end before the start)."""
        amc, number, tier, start, end, third_party = key
        insurer_id = self._insurers.get(amc)
        start_date = f.parse_date(start)
        end_date = f.parse_date(end) if end else None
        if (insurer_id is None or (insurer_id, tier) not in self._tiers or start_date is None
                or (end and (end_date is None or end_date < start_date))):
            return None
        return line, insurer_id, amc, number, tier, start, end, third_party == "1"

    def _insurer_id(self, raw: str) -> int:
        insurer_id = self._insurers.get(raw)
        if insurer_id is None:
            f.amc_number("amc_number", raw)
            raise FieldError("amc_number", "unknown insurer (not in an insurers file)")
        return insurer_id

    def _contract(self, line: int, values: list[str]) -> _Contract:
        amc, number, tier, start, end, third_party = values[1:7]
        insurer_id = self._insurer_id(amc)
        number = f.reference("contract_number", number)
        if (insurer_id, tier) not in self._tiers:
            f.tier("tier", tier)
            raise FieldError("tier", "no guarantee of this insurer has this tier")
        start_date = f.date("contract_start", start)
        end_date = f.optional_date("contract_end", end)
        if end_date is not None and end_date < start_date:
            raise FieldError("contract_end", "is before contract_start")
        return (line, insurer_id, amc, number, tier, start_date.isoformat(),
                end_date.isoformat() if end_date else "", f.flag("third_party", third_party))

    def _person(self, values: list[str]) -> tuple[Sequence[str], int]:
        """The careful path: every field parsed in column order; the first bad one raises."""
        (member_number, rank, nir, birth_date, birth_rank, last_name, first_name,
         marital_status, postcode, departement) = values[7:]
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
        if marital_status not in _MARITAL:
            f.choice("marital_status", marital_status, MaritalStatus)
        person = sealing.PersonFields(
            nir=nir,
            birth_date=born,
            birth_rank=f.integer("birth_rank", birth_rank, low=1, high=9),
            last_name=f.text("last_name", last_name, max_length=_NAME_MAX),
            first_name=f.text("first_name", first_name, max_length=_NAME_MAX),
            marital_status=marital_status,
            member_number=member_number,
            postcode=f.postcode("postcode", postcode),
            departement=f.departement("departement", departement),
        )
        return person.as_strings(), rank_value

    def _terminate(self, line: int, values: list[str]) -> TerminateRow:
        if values[0] != MemberOp.TERMINATE:
            raise FieldError("op", "must be upsert or terminate")
        if self._mode is FileMode.FULL:
            raise FieldError("op", "terminate is only allowed in a delta file")
        named = dict(zip(COLUMNS[FileKind.MEMBERS], values, strict=True))
        for name in _TERMINATE_EMPTY:
            f.must_be_empty(name, named[name], "on a terminate row")
        amc = named["amc_number"]
        insurer_id = self._insurer_id(amc)
        number = f.reference("contract_number", named["contract_number"])
        return TerminateRow(line=line, insurer_id=insurer_id,
                            number_idx=sealing.contract_index(self._vault, amc, number),
                            number=number,
                            end_date=f.date("contract_end", named["contract_end"]))

    # -- cryptography, column-wise ---------------------------------------------

    def _seal_contracts(self, contracts: list[_Contract]) -> list[ContractPart]:
        vault = self._vault
        number_idxs = sealing.contract_indexes(vault, [(c[2], c[3]) for c in contracts])
        sealed = sealing.seal_contract_numbers(vault, [c[3] for c in contracts], number_idxs)
        macs = sealing.contract_content_macs(vault, [c[3:] for c in contracts])
        return [_contract_part(c[0], c[1], idx, blob, c[4], c[5], c[6] or None, c[7], mac)
                for c, idx, blob, mac in zip(contracts, number_idxs, sealed, macs, strict=True)]

    def _seal_members(self, accepted: _Accepted) -> MemberColumns:
        vault, people = self._vault, accepted.people
        member_idxs = sealing.member_indexes(vault, accepted.member_keys)
        return MemberColumns(accepted.lines, accepted.slots, member_idxs,
                             sealing.identity_indexes(vault, people), accepted.ranks,
                             sealing.seal_people(vault, people, member_idxs),
                             sealing.beneficiary_content_macs(vault, people, accepted.ranks))
