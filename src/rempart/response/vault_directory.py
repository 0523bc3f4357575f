"""The person directory behind the article 34 letters: the sealed population records,
opened through the vault.

Each batch of persons it opens is itself a disclosure to the operator running the
report: one `person.viewed` audit entry per person (the fields opened: names and member
number, purpose `breach_letters`) is committed before the names are handed over, so a
directory read that cannot be recorded hands over nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Engine, select

from rempart.audit import AuditLog
from rempart.population.models import Beneficiary, Insurer
from rempart.population.sealing import open_person
from rempart.response.directory import Addressee
from rempart.vault import Vault

VIEWED_FIELDS = ("first_name", "last_name", "member_number")
BATCH = 500


class VaultDirectory:
    """Satisfies `rempart.response.PersonDirectory`."""

    def __init__(self, *, engine: Engine, vault: Vault, audit: AuditLog,
                 purpose: str = "breach_letters", account_id: int | None = None) -> None:
        self._engine = engine
        self._vault = vault
        self._audit = audit
        self._purpose = purpose
        self._account_id = account_id  # the operator opening the names, when known

    def addressees(self, person_ids: Sequence[int]) -> Mapping[int, Addressee]:
        found: dict[int, Addressee] = {}
        ids = sorted(set(person_ids))
        for start in range(0, len(ids), BATCH):
            found.update(self._batch(ids[start:start + BATCH]))
        return found

    def _batch(self, ids: list[int]) -> dict[int, Addressee]:
        query = (select(Beneficiary.id, Beneficiary.sealed, Beneficiary.key_version,
                        Beneficiary.member_idx, Insurer.amc_number, Insurer.name)
                 .join(Insurer, Insurer.id == Beneficiary.insurer_id)
                 .where(Beneficiary.id.in_(ids)))
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        self._audit.append_records([self._audit.record(
            event="person.viewed", account_id=self._account_id, subject_id=row[0],
            fields=VIEWED_FIELDS,
            detail={"purpose": self._purpose, "amc": row[4]}) for row in rows])
        found = {}
        for person_id, sealed, version, member_idx, amc, insurer_name in rows:
            fields = open_person(self._vault, bytes(sealed), version=version,
                                 member_idx=bytes(member_idx))
            found[person_id] = Addressee(
                person_id=person_id, first_name=fields.first_name, last_name=fields.last_name,
                member_number=fields.member_number, insurer_amc=amc, insurer_name=insurer_name)
        return found
