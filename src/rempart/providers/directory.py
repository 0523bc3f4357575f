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
    """Organisation facts by id, kept for the life of the process: all of them read in one
    query at the first look-up (a directory of tens of thousands is a few megabytes),
    then one query per organisation imported since."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._facts: dict[int, OrganisationFacts | None] = {}
        self._loaded = False

    def facts(self, organisation_id: int) -> OrganisationFacts | None:
        found = self._facts.get(organisation_id, False)
        if found is not False:
            return found  # type: ignore[return-value]
        return self._read(organisation_id)

    def known_profession(self, organisation_id: int) -> tuple[bool, str | None]:
        """(known, profession) from memory alone, never a read: for the event loop,
        where a read could wait for SQLite's lock or a pooled connection."""
        if organisation_id not in self._facts:
            return False, None
        facts = self._facts[organisation_id]
        return True, facts.profession if facts else None

    def _read(self, organisation_id: int) -> OrganisationFacts | None:
        if not self._loaded:
            self._load(None)
            self._loaded = True
        elif organisation_id not in self._facts:
            self._load(organisation_id)
        return self._facts.setdefault(organisation_id, None)

    def _load(self, organisation_id: int | None) -> None:
        staff = (select(Professional.organisation_id, func.count().label("staff"))
                 .group_by(Professional.organisation_id).subquery())
        query = (select(Organisation.id, Organisation.profession, Organisation.departement,
                        Organisation.postcode, staff.c.staff)
                 .outerjoin(staff, staff.c.organisation_id == Organisation.id))
        if organisation_id is not None:
            query = query.where(Organisation.id == organisation_id)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        with self._lock:
            for row in rows:
                self._facts[int(row[0])] = OrganisationFacts(
                    profession=str(row[1]), departement=str(row[2]), postcode=str(row[3]),
                    size_class=size_class(int(row[4] or 0)))

    def profession(self, organisation_id: int) -> str | None:
        facts = self.facts(organisation_id)
        return facts.profession if facts else None
