"""The audit-backed DisclosureRecorder: every disclosure becomes an entry of the audit log.

The entries are written inside the caller's transaction, as its last statements, so that
an answer and its audit entry commit together (one commit for both: the check journal's
group commit carries the audit entries of its whole batch) and the audit head row is held
only for that commit. Positions come from the head row, so entries from every worker and
machine form one verifiable order.

Each entry names the person by internal id and, in its detail, the check or claim
reference, the professional and the person's insurer (AMC number): enough for breach
scoping to work from the audit log alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import Connection, bindparam, text

from rempart.audit.errors import InvalidAuditRecord
from rempart.audit.records import AuditRecord, DetailValue
from rempart.audit.service import AuditLog
from rempart.disclosure.recorder import Disclosure

# Plain SQL: the audit package does not import the population's models.
_INSURERS = text(
    "SELECT b.id, i.amc_number FROM beneficiaries b JOIN insurers i ON i.id = b.insurer_id "
    "WHERE b.id IN :ids").bindparams(bindparam("ids", expanding=True))


class AuditDisclosureRecorder:
    """Satisfies `rempart.disclosure.DisclosureRecorder`."""

    def __init__(self, *, audit: AuditLog) -> None:
        self._audit = audit

    def record(self, connection: Connection, disclosures: Sequence[Disclosure]) -> None:
        if not disclosures:
            return
        insurers = insurers_of(connection, (d.person_id for d in disclosures
                                            if d.insurer_amc is None))
        records = [disclosure_record(d, d.insurer_amc or insurers.get(d.person_id or 0))
                   for d in disclosures]
        self._audit.append_in_transaction(connection, records)


def insurers_of(connection: Connection, person_ids: Iterable[int | None]) -> dict[int, str]:
    """The insurer (AMC number) of each person, from the population tables."""
    ids = sorted({pid for pid in person_ids if pid is not None})
    if not ids:
        return {}
    rows = connection.execute(_INSURERS, {"ids": ids}).all()
    return {int(row[0]): str(row[1]) for row in rows}


def disclosure_record(disclosure: Disclosure, insurer_amc: str | None) -> AuditRecord:
    """The audit entry of one disclosure.

    An identity detail that cannot be recorded as given (a session or device id outside
    the audit alphabet, an address that does not parse) is left out and named in the
    detail, rather than failing the other disclosures committed in the same batch.
    """
    who = disclosure.requester
    detail: dict[str, DetailValue] = {}
    if disclosure.reference is not None:
        detail["reference"] = disclosure.reference
    if who.professional_id is not None:
        detail["professional_id"] = who.professional_id
    if insurer_amc is not None:
        detail["amc"] = insurer_amc
    identity = {"session_id": who.session_id, "device_id": who.device_id,
                "client_address": who.client_address}
    try:
        return _create(disclosure, identity, detail)
    except InvalidAuditRecord:
        pass
    kept: dict[str, str | None] = {}
    dropped = []
    for name, value in identity.items():
        if _recordable(name, value, disclosure):
            kept[name] = value
        else:
            kept[name] = None
            dropped.append(name)
    if dropped:
        detail["unrecordable"] = ",".join(dropped)
    return _create(disclosure, kept, detail)


def _create(disclosure: Disclosure, identity: Mapping[str, str | None],
            detail: Mapping[str, DetailValue]) -> AuditRecord:
    who = disclosure.requester
    return AuditRecord.create(
        event=disclosure.event.value, occurred_at=disclosure.occurred_at,
        account_id=who.account_id, organisation_id=who.organisation_id,
        session_id=identity["session_id"], device_id=identity["device_id"],
        client_address=identity["client_address"], subject_id=disclosure.person_id,
        fields=disclosure.fields, detail=detail)


def _recordable(name: str, value: str | None, disclosure: Disclosure) -> bool:
    """Whether the audit log takes this one identity detail as it is."""
    at = disclosure.occurred_at
    try:
        if name == "session_id":
            AuditRecord.create(event="audit.probe", occurred_at=at, session_id=value)
        elif name == "device_id":
            AuditRecord.create(event="audit.probe", occurred_at=at, device_id=value)
        else:
            AuditRecord.create(event="audit.probe", occurred_at=at, client_address=value)
    except InvalidAuditRecord:
        return False
    return True
