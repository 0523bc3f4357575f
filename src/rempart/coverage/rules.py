"""Coverage and claim rules: pure decisions over plain values, no I/O.

Allowance periods are rolling: a guarantee with an allowance of A per N months pays at
most A over the N months that end on the date of care (the day N months before it
excluded), whatever the calendar year.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
from dataclasses import dataclass

from rempart.core.calculation import GuaranteeTerms
from rempart.core.care import GuaranteeKind
from rempart.coverage.errors import InvalidTransition

# A claim may be for care given on the check's date of care or up to a week after it.
CLAIM_WINDOW_DAYS = 7
# The window used when no allowance applies, so every check runs the same query.
NEUTRAL_PERIOD_MONTHS = 12


class CheckOutcome(enum.StrEnum):
    """Internal reason of an answer; the caller only ever sees covered or not."""

    COVERED = "covered"
    NO_MATCH = "no_match"
    CONTRACT_INACTIVE = "contract_inactive"
    NOT_COVERED = "category_not_covered"


class ClaimStatus(enum.StrEnum):
    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    PAID = "paid"


class RejectionReason(enum.StrEnum):
    CHECK_NOT_COVERED = "check_not_covered"
    CATEGORY_MISMATCH = "category_mismatch"
    OUTSIDE_CHECK_WINDOW = "outside_check_window"
    ALREADY_CLAIMED = "already_claimed"
    AMOUNT_ABOVE_GUARANTEE = "amount_above_guarantee"


_TRANSITIONS: dict[ClaimStatus, frozenset[ClaimStatus]] = {
    ClaimStatus.RECEIVED: frozenset({ClaimStatus.ACCEPTED, ClaimStatus.REJECTED}),
    ClaimStatus.ACCEPTED: frozenset({ClaimStatus.PAID}),
    ClaimStatus.REJECTED: frozenset(),
    ClaimStatus.PAID: frozenset(),
}
# Claims in these statuses consume the allowance.
CONSUMING = (ClaimStatus.ACCEPTED.value, ClaimStatus.PAID.value)


def ensure_transition(current: ClaimStatus, target: ClaimStatus) -> None:
    if target not in _TRANSITIONS[current]:
        raise InvalidTransition(current.value, target.value)


@dataclass(frozen=True, slots=True)
class ContractPeriod:
    start: dt.date
    end: dt.date | None

    def active_on(self, day: dt.date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass(frozen=True, slots=True)
class GuaranteeRow:
    """A guarantee as stored: terms, optional allowance, third-party payment agreed."""

    id: int
    kind: GuaranteeKind
    rate_bp: int | None
    amount_cents: int | None
    allowance_cents: int | None
    period_months: int | None
    third_party: bool
    valid_from: dt.date

    @property
    def terms(self) -> GuaranteeTerms:
        return GuaranteeTerms(kind=self.kind, rate_bp=self.rate_bp,
                              amount_cents=self.amount_cents)

    @property
    def has_allowance(self) -> bool:
        return self.allowance_cents is not None and self.period_months is not None


def decide_check(*, matched: bool, contract: ContractPeriod | None,
                 guarantee: GuaranteeRow | None, care_date: dt.date) -> CheckOutcome:
    if not matched or contract is None:
        return CheckOutcome.NO_MATCH
    if not contract.active_on(care_date):
        return CheckOutcome.CONTRACT_INACTIVE
    if guarantee is None:
        return CheckOutcome.NOT_COVERED
    return CheckOutcome.COVERED


def latest_guarantee(rows: list[GuaranteeRow]) -> GuaranteeRow | None:
    """Of the guarantees valid on the date of care, the one that started last."""
    return max(rows, key=lambda g: g.valid_from, default=None)


def allowance_window(care_date: dt.date, months: int) -> tuple[dt.date, dt.date]:
    """(start, end): care after start and up to end counts against the allowance."""
    return minus_months(care_date, months), care_date


def minus_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last_day))


def remaining_allowance(guarantee: GuaranteeRow, used_cents: int) -> int | None:
    if not guarantee.has_allowance or guarantee.allowance_cents is None:
        return None
    return max(guarantee.allowance_cents - used_cents, 0)


def claim_rejection(*, check_covered: bool, check_category: str, check_care_date: dt.date,
                    category: str, care_date: dt.date, already_claimed: bool,
                    claimed_amc_cents: int, allowed_amc_cents: int) -> RejectionReason | None:
    """Why a claim is rejected, or None when it is accepted; the first reason wins."""
    if not check_covered:
        return RejectionReason.CHECK_NOT_COVERED
    if category != check_category:
        return RejectionReason.CATEGORY_MISMATCH
    if not check_care_date <= care_date <= check_care_date + dt.timedelta(days=CLAIM_WINDOW_DAYS):
        return RejectionReason.OUTSIDE_CHECK_WINDOW
    if already_claimed:
        return RejectionReason.ALREADY_CLAIMED
    if claimed_amc_cents > allowed_amc_cents:
        return RejectionReason.AMOUNT_ABOVE_GUARANTEE
    return None
