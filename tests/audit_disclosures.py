"""Reading the disclosures back from the audit log, for the check, claim and API tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Engine, text

DISCLOSURE_EVENTS = ("check.answered", "check.calculated", "claim.submitted", "claim.read")


@dataclass(frozen=True)
class RecordedDisclosure:
    position: int
    event: str
    person_id: int | None
    fields: tuple[str, ...]  # sorted, as the audit log stores them
    reference: str | None
    account_id: int | None
    organisation_id: int | None
    session_id: str | None
    device_id: str | None
    client_address: str | None
    detail: dict[str, Any]


def recorded_disclosures(engine: Engine) -> list[RecordedDisclosure]:
    """Every disclosure entry of the audit log, in log order."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT position, event, subject_id, fields, detail, account_id, organisation_id, "
            "session_id, device_id, client_address FROM audit_entries "
            "WHERE event IN ('check.answered', 'check.calculated', 'claim.submitted', "
            "'claim.read') ORDER BY position")).all()
    found = []
    for row in rows:
        detail = orjson.loads(row[4])
        found.append(RecordedDisclosure(
            position=row[0], event=row[1], person_id=row[2],
            fields=tuple(row[3].split(",")) if row[3] else (), reference=detail.get("reference"),
            account_id=row[5], organisation_id=row[6], session_id=row[7], device_id=row[8],
            client_address=row[9], detail=detail))
    return found


def disclosures_by_reference(engine: Engine, event: str | None = None,
                             ) -> dict[str, RecordedDisclosure]:
    return {d.reference: d for d in recorded_disclosures(engine)
            if d.reference is not None and (event is None or d.event == event)}


def count_disclosures(engine: Engine) -> int:
    return len(recorded_disclosures(engine))
