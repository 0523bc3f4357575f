"""A person's own history: every check and claim that concerned them, and the report of a
check they do not recognise.

Read from the checks and claims tables by the person's internal id: a check appears as
soon as every identifier presented matched the person, whether or not they were covered
(someone held their identifiers either way), and stays after the audit log's retention
has archived its entry. The provider appears as its organisation's name and profession.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy import Engine, select

from rempart.alerts.models import AlertRow
from rempart.alerts.store import AlertSource, AlertStore
from rempart.audit import AuditLog, AuditRecord
from rempart.clock import Clock
from rempart.coverage.answers import as_utc
from rempart.coverage.models import Check, Claim
from rempart.coverage.references import is_reference
from rempart.member.errors import UnknownCheck
from rempart.providers.models import Organisation

DEFAULT_LIMIT = 500
REPORT_REASON = "an insured person does not recognise this check of their coverage"


class ItemKind(enum.StrEnum):
    CHECK = "check"
    CLAIM = "claim"


@dataclass(frozen=True, slots=True)
class HistoryItem:
    kind: ItemKind
    reference: str
    at: dt.datetime
    organisation: str
    profession: str
    category: str
    outcome: str  # checks: covered, not_covered; claims: received, accepted, rejected, paid
    reported: bool = False


@dataclass(frozen=True, slots=True)
class HistoryPage:
    items: list[HistoryItem]
    truncated: bool  # more items exist than were listed (the newest are listed)


class MemberHistory:
    def __init__(self, *, engine: Engine, clock: Clock, audit: AuditLog,
                 limit: int = DEFAULT_LIMIT) -> None:
        self._engine = engine
        self._clock = clock
        self._audit = audit
        self._limit = limit

    def page(self, *, person_id: int) -> HistoryPage:
        """The person's checks and claims, newest first."""
        limit = self._limit
        checks = (select(Check.reference, Check.created_at, Check.category, Check.covered,
                         Organisation.name, Organisation.profession)
                  .join(Organisation, Organisation.id == Check.organisation_id)
                  .where(Check.beneficiary_id == person_id)
                  .order_by(Check.created_at.desc(), Check.id.desc()).limit(limit + 1))
        claims = (select(Claim.reference, Claim.received_at, Claim.category, Claim.status,
                         Organisation.name, Organisation.profession)
                  .join(Organisation, Organisation.id == Claim.organisation_id)
                  .where(Claim.beneficiary_id == person_id)
                  .order_by(Claim.received_at.desc(), Claim.id.desc()).limit(limit + 1))
        with self._engine.connect() as conn:
            check_rows = conn.execute(checks).all()
            claim_rows = conn.execute(claims).all()
            references = [row[0] for row in check_rows]
            reported = set(conn.execute(select(AlertRow.check_reference).where(
                AlertRow.source == AlertSource.MEMBER_REPORT.value,
                AlertRow.check_reference.in_(references))).scalars()) if references else set()
        items = [HistoryItem(kind=ItemKind.CHECK, reference=r[0], at=as_utc(r[1]),
                             category=r[2], outcome="covered" if r[3] else "not_covered",
                             organisation=r[4], profession=r[5], reported=r[0] in reported)
                 for r in check_rows]
        items += [HistoryItem(kind=ItemKind.CLAIM, reference=r[0], at=as_utc(r[1]),
                              category=r[2], outcome=r[3], organisation=r[4], profession=r[5])
                  for r in claim_rows]
        items.sort(key=lambda item: item.at, reverse=True)
        return HistoryPage(items=items[:limit], truncated=len(items) > limit)

    def report_check(self, *, person_id: int, reference: str,
                     client_address: str | None) -> bool:
        """Raise an alert about one of the person's own checks; False if already reported."""
        if not isinstance(reference, str) or not is_reference(reference):
            raise UnknownCheck("not a check reference")
        now = self._clock.now()
        with self._engine.begin() as conn:
            row = conn.execute(select(Check.account_id, Check.organisation_id).where(
                Check.reference == reference, Check.beneficiary_id == person_id)).one_or_none()
            if row is None:
                raise UnknownCheck("no such check in this person's history")
            if AlertStore.reported(conn, check_reference=reference):
                return False
            AlertStore.insert(conn, source=AlertSource.MEMBER_REPORT, severity="high",
                              created_at=now, reasons=[REPORT_REASON], account_id=row[0],
                              organisation_id=row[1], check_reference=reference)
            self._audit.append_in_transaction(conn, [AuditRecord.create(
                event="member.check_reported", occurred_at=now, subject_id=person_id,
                client_address=client_address, detail={"reference": reference})])
        return True
