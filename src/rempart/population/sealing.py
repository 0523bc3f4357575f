"""How population records map to sealed blobs and blind indexes.

The single definition shared by the importer (which writes) and the checks (which
read), so the two can never disagree on normalisation or field order.
"""

from __future__ import annotations

import datetime as dt
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
                            contract_id: int, version: int | None = None) -> bytes:
    """Keyed fingerprint of a beneficiary row: re-importing an unchanged row is a no-op.

    Key rotation recomputes it from the same inputs, so importer and rotation agree.
    """
    return vault.index(CONTENT_PURPOSE + b":beneficiary", *person.as_strings(), str(rank),
                       str(contract_id), version=version)


def contract_content_mac(vault: Vault, *, number: str, tier: str, start_date: dt.date,
                         end_date: dt.date | None, third_party: bool,
                         version: int | None = None) -> bytes:
    """Keyed fingerprint of a contract row (see beneficiary_content_mac)."""
    return vault.index(CONTENT_PURPOSE + b":contract", number.strip().upper(), tier,
                       start_date.isoformat(), end_date.isoformat() if end_date else "",
                       "1" if third_party else "0", version=version)


def seal_person(vault: Vault, person: PersonFields, *, member_idx: bytes) -> bytes:
    return vault.seal(person.as_strings(), kind=PERSON_KIND, row_token=member_idx)


def open_person(vault: Vault, blob: bytes, *, version: int, member_idx: bytes) -> PersonFields:
    values = vault.open(blob, version=version, kind=PERSON_KIND, row_token=member_idx)
    return PersonFields.from_strings(values)


def seal_contract_number(vault: Vault, number: str, *, number_idx: bytes) -> bytes:
    return vault.seal([number], kind=CONTRACT_KIND, row_token=number_idx)


def open_contract_number(vault: Vault, blob: bytes, *, version: int, number_idx: bytes) -> str:
    return vault.open(blob, version=version, kind=CONTRACT_KIND, row_token=number_idx)[0]
