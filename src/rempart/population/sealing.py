"""How population records map to sealed blobs and blind indexes.

The single definition shared by the importer (which writes) and the checks (which
read), so the two can never disagree on normalisation or field order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from rempart.vault import Vault

PERSON_KIND = b"beneficiary"
CONTRACT_KIND = b"contract"
IDENTITY_PURPOSE = b"identity:nir+birth_date"
MEMBER_PURPOSE = b"member:amc+member_number"
CONTRACT_PURPOSE = b"contract:amc+number"
CONTENT_PURPOSE = b"content"


@dataclass(frozen=True, slots=True)
class PersonFields:
    """The personal fields of a beneficiary, all sealed together."""

    nir: str
    birth_date: dt.date
    birth_rank: int
    last_name: str
    first_name: str
    marital_status: str
    member_number: str
    postcode: str
    departement: str

    def as_strings(self) -> list[str]:
        """The sealed field order; the importer builds these lists directly (PERSON_FIELDS)."""
        # Field by field: dataclasses.astuple deep-copies and cost 30 µs a row on import.
        return [self.nir, self.birth_date.isoformat(), str(self.birth_rank), self.last_name,
                self.first_name, self.marital_status, self.member_number, self.postcode,
                self.departement]

    @classmethod
    def from_strings(cls, values: list[str]) -> PersonFields:
        (nir, birth_date, birth_rank, last_name, first_name, marital_status,
         member_number, postcode, departement) = values
        return cls(nir, dt.date.fromisoformat(birth_date), int(birth_rank), last_name,
                   first_name, marital_status, member_number, postcode, departement)


PERSON_FIELDS = ("nir", "birth_date", "birth_rank", "last_name", "first_name", "marital_status",
                 "member_number", "postcode", "departement")
"""The positions of PersonFields.as_strings(): what a list of person strings holds."""
NIR_AT, BIRTH_DATE_AT, BIRTH_RANK_AT, MEMBER_NUMBER_AT, DEPARTEMENT_AT = 0, 1, 2, 6, 8


def normalise_member_number(value: str) -> str:
    return value.strip().upper()


def identity_index(vault: Vault, nir: str, birth_date: dt.date,
                   version: int | None = None) -> bytes:
    return vault.index(IDENTITY_PURPOSE, nir, birth_date.isoformat(), version=version)


def identity_candidates(vault: Vault, nir: str, birth_date: dt.date) -> list[bytes]:
    return vault.index_candidates(IDENTITY_PURPOSE, nir, birth_date.isoformat())


def member_index(vault: Vault, amc_number: str, member_number: str,
                 version: int | None = None) -> bytes:
    return vault.index(MEMBER_PURPOSE, amc_number, normalise_member_number(member_number),
                       version=version)


def contract_index(vault: Vault, amc_number: str, contract_number: str,
                   version: int | None = None) -> bytes:
    return vault.index(CONTRACT_PURPOSE, amc_number, contract_number.strip().upper(),
                       version=version)


def beneficiary_content_mac(vault: Vault, person: PersonFields, *, rank: int,
                            version: int | None = None) -> bytes:
    """Keyed fingerprint of a beneficiary's own fields: an unchanged row is not rewritten.

    The contract is not part of it (the importer compares the stored contract id
    itself), so it can be computed where the row is validated, before ids are known.
    Key rotation recomputes it from the same inputs, so importer and rotation agree.
    """
    return beneficiary_content_macs(vault, [person.as_strings()], [rank], version=version)[0]


# -- column-wise forms, for the importer: one call per batch of rows -------------------


def member_indexes(vault: Vault, keys: Sequence[tuple[str, str]]) -> list[bytes]:
    """member_index of each (amc_number, member_number), under the current version."""
    return vault.indexes(MEMBER_PURPOSE,
                         [(amc, normalise_member_number(number)) for amc, number in keys])


def identity_indexes(vault: Vault, people: Sequence[Sequence[str]]) -> list[bytes]:
    """identity_index of each person given as strings (PERSON_FIELDS order)."""
    return vault.indexes(IDENTITY_PURPOSE,
                         [(p[NIR_AT], p[BIRTH_DATE_AT]) for p in people])


def beneficiary_content_macs(vault: Vault, people: Sequence[Sequence[str]],
                             ranks: Sequence[int], version: int | None = None) -> list[bytes]:
    return vault.indexes(CONTENT_PURPOSE + b":beneficiary",
                         [(*p, str(rank)) for p, rank in zip(people, ranks, strict=True)],
                         version=version)


def seal_people(vault: Vault, people: Sequence[Sequence[str]],
                member_idxs: Sequence[bytes]) -> list[bytes]:
    return vault.seal_many(people, kind=PERSON_KIND, row_tokens=member_idxs)


def contract_indexes(vault: Vault, keys: Sequence[tuple[str, str]]) -> list[bytes]:
    """contract_index of each (amc_number, contract_number), under the current version."""
    return vault.indexes(CONTRACT_PURPOSE,
                         [(amc, number.strip().upper()) for amc, number in keys])


def seal_contract_numbers(vault: Vault, numbers: Sequence[str],
                          number_idxs: Sequence[bytes]) -> list[bytes]:
    return vault.seal_many([[n] for n in numbers], kind=CONTRACT_KIND, row_tokens=number_idxs)


def contract_content_mac(vault: Vault, *, number: str, tier: str, start_date: dt.date,
                         end_date: dt.date | None, third_party: bool,
                         version: int | None = None) -> bytes:
    """Keyed fingerprint of a contract row (see beneficiary_content_mac)."""
    return contract_content_macs(vault, [(number, tier, start_date.isoformat(),
                                          end_date.isoformat() if end_date else "",
                                          third_party)], version=version)[0]


ContractContent = tuple[str, str, str, str, bool]
"""number, tier, start_date, end_date ("" when open-ended), third_party; dates YYYY-MM-DD"""


def contract_content_macs(vault: Vault, contracts: Sequence[ContractContent],
                          version: int | None = None) -> list[bytes]:
    return vault.indexes(CONTENT_PURPOSE + b":contract", [
        (number.strip().upper(), tier, start, end, "1" if third_party else "0")
        for number, tier, start, end, third_party in contracts], version=version)


def seal_person(vault: Vault, person: PersonFields, *, member_idx: bytes) -> bytes:
    return vault.seal(person.as_strings(), kind=PERSON_KIND, row_token=member_idx)


def open_person(vault: Vault, blob: bytes, *, version: int, member_idx: bytes) -> PersonFields:
    values = vault.open(blob, version=version, kind=PERSON_KIND, row_token=member_idx)
    return PersonFields.from_strings(values)


def seal_contract_number(vault: Vault, number: str, *, number_idx: bytes) -> bytes:
    return vault.seal([number], kind=CONTRACT_KIND, row_token=number_idx)


def open_contract_number(vault: Vault, blob: bytes, *, version: int, number_idx: bytes) -> str:
    return vault.open(blob, version=version, kind=CONTRACT_KIND, row_token=number_idx)[0]
