"""The claim service: a claim quotes a check and is accepted only if the check backs it.

Submission writes the claim as received first (on SQLite that write takes the lock
that serialises claims; on PostgreSQL the beneficiary row is locked), then decides it
against the check and the allowance ledger in the same transaction, so two claims can
never spend the same allowance twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine

from rempart.clock import Clock
from rempart.core.calculation import MAX_AMO_RATE_BP, Bill
from rempart.core.care import CareCategory
from rempart.coverage import check_store, claim_store, ledger
from rempart.coverage.answers import MAX_PAGE_SIZE, Page, as_utc
from rempart.coverage.check_store import AnyRow
from rempart.coverage.errors import FieldError, InvalidRequest, UnknownReference
from rempart.coverage.query import CARE_DAYS_BACK
from rempart.coverage.references import is_reference, new_reference
from rempart.coverage.rules import ClaimStatus, RejectionReason, claim_rejection, ensure_transition
from rempart.disclosure import Disclosure, DisclosureEvent, DisclosureRecorder, Requester
from rempart.guard.gate import CheckGate
from rempart.observability import metrics

MAX_AMOUNT_CENTS = 10_000_000  # 100,000 euros: far above any single act
CLAIM_FIELDS = ("claim_status", "claim_reason")  # what a claim's answer tells of the person


@dataclass(frozen=True, slots=True)
class ClaimSubmission:
    check_reference: str
    category: str
    care_date: dt.date
    billed_cents: int
    base_tariff_cents: int
    amo_rate_bp: int
    amc_cents: int  # what the provider asks of the complementary insurer


@dataclass(frozen=True, slots=True)
class ClaimView:
    reference: str
    check_reference: str
    status: ClaimStatus
    reason: RejectionReason | None
    category: CareCategory
    care_date: dt.date
    billed_cents: int
    base_tariff_cents: int
    amo_rate_bp: int
    amo_cents: int
    amc_cents: int
    patient_cents: int
    received_at: dt.datetime
    decided_at: dt.datetime | None
    paid_at: dt.datetime | None


class ClaimService:
    def __init__(self, *, engine: Engine, clock: Clock, recorder: DisclosureRecorder,
                 gate: CheckGate | None = None) -> None:
        self._engine = engine
        self._clock = clock
        self._recorder = recorder
        self._gate = gate  # the exfiltration guard learns from claimed checks

    def submit(self, *, requester: Requester, submission: ClaimSubmission) -> ClaimView:
        """Record a claim and decide it: accepted, or rejected with a reason."""
        now = self._clock.now()
        category = _validate(submission, today=now.date())
        bill = Bill(billed_cents=submission.billed_cents,
                    base_tariff_cents=submission.base_tariff_cents,
                    amo_rate_bp=submission.amo_rate_bp)
        reference = new_reference(at=now)
        with self._engine.begin() as conn:
            check = check_store.find_own_check(conn, reference=submission.check_reference,
                                               organisation_id=requester.organisation_id)
            if check is None:
                raise UnknownReference("check")
            claim_id = claim_store.insert_claim(conn, {
                "reference": reference, "check_id": check.id,
                "organisation_id": requester.organisation_id,
                "account_id": requester.account_id, "beneficiary_id": check.beneficiary_id,
                "category": category.value, "care_date": submission.care_date,
                "billed_cents": bill.billed_cents, "base_tariff_cents": bill.base_tariff_cents,
                "amo_rate_bp": bill.amo_rate_bp, "amo_cents": 0, "amc_cents": 0,
                "patient_cents": bill.billed_cents, "status": ClaimStatus.RECEIVED.value,
                "received_at": now,
            })
            guarantee = check.guarantee if check.covered else None
            remaining = None
            if guarantee is not None and check.beneficiary_id is not None:
                claim_store.lock_beneficiary(conn, check.beneficiary_id)
                remaining = ledger.remaining_on(
                    conn, guarantee=guarantee, beneficiary_id=check.beneficiary_id,
                    category=check.category, care_date=submission.care_date)
            split = ledger.split_under(bill, guarantee, remaining)
            reason = claim_rejection(
                check_covered=guarantee is not None, check_category=check.category,
                check_care_date=check.care_date, category=category.value,
                care_date=submission.care_date,
                already_claimed=claim_store.already_claimed(conn, check_id=check.id,
                                                            claim_id=claim_id),
                claimed_amc_cents=submission.amc_cents, allowed_amc_cents=split.amc_cents)
            status = ClaimStatus.ACCEPTED if reason is None else ClaimStatus.REJECTED
            ensure_transition(ClaimStatus.RECEIVED, status)
            amc = submission.amc_cents if reason is None else 0
            claim_store.update_claim(conn, claim_id, {
                "status": status.value, "reason": reason.value if reason else None,
                "amo_cents": split.amo_cents, "amc_cents": amc,
                "patient_cents": bill.billed_cents - split.amo_cents - amc, "decided_at": now,
            })
            row = claim_store.find_claim(conn, reference=reference, organisation_id=None)
            # Last: the audit recorder holds the audit head until this transaction commits.
            self._recorder.record(conn, [Disclosure(
                event=DisclosureEvent.CLAIM, occurred_at=now, requester=requester,
                person_id=check.beneficiary_id if guarantee else None,
                fields=CLAIM_FIELDS if guarantee else (), reference=reference)])
        metrics.record_claim(status=status, reason=reason)
        if self._gate is not None and status is ClaimStatus.ACCEPTED:
            self._gate.claimed(requester, check_reference=submission.check_reference)
        return _view(_found(row))

    def get(self, *, requester: Requester, reference: str) -> ClaimView:
        with self._engine.begin() as conn:
            row = _found(claim_store.find_claim(conn, reference=reference,
                                                organisation_id=requester.organisation_id))
            self._recorder.record(conn, [self._read(requester, row)])
        return _view(row)

    def list_claims(self, *, requester: Requester, limit: int,
                    after: str | None = None) -> Page[ClaimView]:
        """The organisation's own claims, newest first."""
        limit = max(1, min(limit, MAX_PAGE_SIZE))
        with self._engine.begin() as conn:
            rows = claim_store.list_own_claims(
                conn, organisation_id=requester.organisation_id, limit=limit + 1, after=after)
            self._recorder.record(conn, [self._read(requester, r) for r in rows[:limit]])
        items = [_view(r) for r in rows[:limit]]
        return Page(items=items, next_cursor=items[-1].reference if len(rows) > limit else None)

    def _read(self, requester: Requester, row: AnyRow) -> Disclosure:
        """A claim shown again to its provider is a disclosure too (`claim.read`)."""
        person_id = row[claim_store.BENEFICIARY_COLUMN]
        return Disclosure(event=DisclosureEvent.CLAIM_READ, occurred_at=self._clock.now(),
                          requester=requester, person_id=person_id,
                          fields=CLAIM_FIELDS if person_id is not None else (),
                          reference=row[0])

    def mark_paid(self, *, reference: str) -> ClaimView:
        """The insurer paid an accepted claim (an operator's action, not a provider's)."""
        now = self._clock.now()
        with self._engine.begin() as conn:
            current = claim_store.claim_id_and_status(conn, reference)
            if current is None:
                raise UnknownReference("claim")
            ensure_transition(ClaimStatus(current[1]), ClaimStatus.PAID)
            claim_store.update_claim(conn, current[0], {"status": ClaimStatus.PAID.value,
                                                        "paid_at": now})
            row = claim_store.find_claim(conn, reference=reference, organisation_id=None)
        return _view(_found(row))


def _validate(submission: ClaimSubmission, *, today: dt.date) -> CareCategory:
    errors: list[FieldError] = []
    if not is_reference(submission.check_reference):
        errors.append(FieldError("check_reference", "not a check reference"))
    category = None
    try:
        category = CareCategory(submission.category)
    except ValueError:
        errors.append(FieldError("category", "unknown care category"))
    if not today - dt.timedelta(days=CARE_DAYS_BACK) <= submission.care_date <= today:
        errors.append(FieldError("care_date", f"must be within {CARE_DAYS_BACK} days before "
                                              "today and not in the future"))
    for field in ("billed_cents", "base_tariff_cents", "amc_cents"):
        if not 0 <= getattr(submission, field) <= MAX_AMOUNT_CENTS:
            errors.append(FieldError(field, f"must be between 0 and {MAX_AMOUNT_CENTS}"))
    if not 0 <= submission.amo_rate_bp <= MAX_AMO_RATE_BP:
        errors.append(FieldError("amo_rate_bp", f"must be between 0 and {MAX_AMO_RATE_BP}"))
    if errors or category is None:
        raise InvalidRequest(errors)
    return category


def _found(row: AnyRow | None) -> AnyRow:
    if row is None:
        raise UnknownReference("claim")
    return row


def _view(row: AnyRow) -> ClaimView:
    return ClaimView(
        reference=row[0], check_reference=row[1], status=ClaimStatus(row[2]),
        reason=RejectionReason(row[3]) if row[3] else None, category=CareCategory(row[4]),
        care_date=row[5], billed_cents=row[6], base_tariff_cents=row[7], amo_rate_bp=row[8],
        amo_cents=row[9], amc_cents=row[10], patient_cents=row[11],
        received_at=as_utc(row[12]),
        decided_at=as_utc(row[13]) if row[13] else None,
        paid_at=as_utc(row[14]) if row[14] else None)
