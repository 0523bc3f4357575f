"""What the check and calculation answer: the least a provider needs, nothing personal."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Generic, TypeVar

from rempart.core.care import CareCategory, GuaranteeKind

T = TypeVar("T")
MAX_PAGE_SIZE = 100


def as_utc(moment: dt.datetime) -> dt.datetime:
    """SQLite gives naive datetimes back; every stored moment is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class GuaranteeView:
    kind: GuaranteeKind
    rate_bp: int | None
    amount_cents: int | None
    allowance_period_months: int | None
    allowance_remaining_cents: int | None


@dataclass(frozen=True, slots=True)
class CheckAnswer:
    reference: str
    covered: bool
    category: CareCategory
    care_date: dt.date
    checked_at: dt.datetime
    third_party_payment: bool
    guarantee: GuaranteeView | None

    @property
    def disclosed_fields(self) -> tuple[str, ...]:
        """The fields that told the provider something about the person.

        A negative answer looks the same for anyone, so it discloses nothing.
        """
        if not self.covered or self.guarantee is None:
            return ()
        fields = ["covered", "third_party_payment", "guarantee_kind"]
        if self.guarantee.rate_bp is not None:
            fields.append("guarantee_rate_bp")
        if self.guarantee.amount_cents is not None:
            fields.append("guarantee_amount_cents")
        if self.guarantee.allowance_remaining_cents is not None:
            fields.append("allowance_remaining_cents")
        return tuple(fields)


@dataclass(frozen=True, slots=True)
class CalculationAnswer:
    reference: str
    billed_cents: int
    amo_cents: int
    amc_cents: int
    patient_cents: int
    allowance_remaining_cents: int | None


@dataclass(frozen=True, slots=True)
class CheckSummary:
    reference: str
    category: CareCategory
    care_date: dt.date
    covered: bool
    checked_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
