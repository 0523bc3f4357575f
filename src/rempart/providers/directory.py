"""What the rest of rempart may know about a provider organisation: its profession, where
it is, and how big it is (the exfiltration guard's peer group). Public directory data,
read once per organisation and kept: it changes on import, rarely."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from rempart.providers.models import Organisation, Professional

# Professionals on staff -> size class: a practice of one, a few, a team, an institution.
SIZE_BOUNDS = ((1, "solo"), (3, "small"), (15, "medium"))
LARGEST = "large"


@dataclass(frozen=True, slots=True)
class OrganisationFacts:
    profession: str
    departement: str
    postcode: str
    size_class: str


def size_class(staff: int) -> str:
    for bound, name in SIZE_BOUNDS:
        if staff <= bound:
            return name
    return LARGEST


class OrganisationDirectory:
    """Organisation facts by id, looked up once and kept for the life of the process."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._facts: dict[int, OrganisationFacts | None] = {}

    def facts(self, organisation_id: int) -> OrganisationFacts | None:
        found = self._facts.get(organisation_id, False)
        if found is not False:
            return found  # type: ignore[return-value]
        with self._engine.connect() as conn:
            row = conn.execute(select(Organisation.profession, Organisation.departement,
                                      Organisation.postcode)
                               .where(Organisation.id == organisation_id)).one_or_none()
            staff = conn.execute(select(func.count()).select_from(Professional).where(
                Professional.organisation_id == organisation_id)).scalar_one()
        facts = None if row is None else OrganisationFacts(
            profession=str(row[0]), departement=str(row[1]), postcode=str(row[2]),
            size_class=size_class(int(staff)))
        with self._lock:
            self._facts[organisation_id] = facts
        return facts

    def profession(self, organisation_id: int) -> str | None:
        facts = self.facts(organisation_id)
        return facts.profession if facts else None
