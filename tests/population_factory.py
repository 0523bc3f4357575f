"""A few sealed population rows written straight through the models, for unit tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import insert

from rempart.core.identifiers import build_nir
from rempart.population import sealing
from rempart.population.models import Beneficiary, Contract, Insurer
from rempart.runtime import Runtime

AMC = "12345678"
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Person:
    id: int
    fields: sealing.PersonFields


def person_fields(i: int) -> sealing.PersonFields:
    birth = dt.date(1950 + i % 60, 1 + i % 12, 1 + i % 28)
    nir = build_nir(sex=1 + i % 2, birth_year=birth.year, birth_month=birth.month,
                    place=f"{(i % 95) + 1:02d}".replace("20", "21") + "123", serial=1 + i % 999)
    return sealing.PersonFields(
        nir=nir, birth_date=birth, birth_rank=1, last_name=f"Zorglub{i}",
        first_name=f"Quentinette{i}", marital_status="married",
        member_number=f"M{i:08d}01", postcode="75011", departement="75",
    )


def add_people(runtime: Runtime, count: int) -> list[Person]:
    vault = runtime.vault
    people = []
    with runtime.engine.begin() as conn:
        insurer_id = conn.execute(
            insert(Insurer).values(amc_number=AMC, name="Mutuelle Test").returning(Insurer.id)
        ).scalar_one()
        for i in range(count):
            number = f"C{i:08d}"
            number_idx = sealing.contract_index(vault, AMC, number)
            start = dt.date(2020, 1, 1)
            contract_id = conn.execute(insert(Contract).values(
                insurer_id=insurer_id, number_idx=number_idx,
                key_version=vault.current_version,
                sealed=sealing.seal_contract_number(vault, number, number_idx=number_idx),
                content_mac=sealing.contract_content_mac(
                    vault, number=number, tier="CONFORT", start_date=start, end_date=None,
                    third_party=True),
                tier="CONFORT", start_date=start, end_date=None, third_party=True,
                updated_at=NOW,
            ).returning(Contract.id)).scalar_one()
            fields = person_fields(i)
            member_idx = sealing.member_index(vault, AMC, fields.member_number)
            person_id = conn.execute(insert(Beneficiary).values(
                insurer_id=insurer_id, contract_id=contract_id, rank=1, member_idx=member_idx,
                identity_idx=sealing.identity_index(vault, fields.nir, fields.birth_date),
                key_version=vault.current_version,
                sealed=sealing.seal_person(vault, fields, member_idx=member_idx),
                content_mac=sealing.beneficiary_content_mac(vault, fields, rank=1),
                updated_at=NOW,
            ).returning(Beneficiary.id)).scalar_one()
            people.append(Person(id=person_id, fields=fields))
    return people
