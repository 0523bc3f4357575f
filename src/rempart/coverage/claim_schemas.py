"""JSON shapes of the claims API."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, StrictInt

from rempart.core.care import CareCategory
from rempart.coverage.references import REFERENCE_PATTERN
from rempart.coverage.rules import ClaimStatus, RejectionReason
from rempart.coverage.schemas import Cents, IsoDate, Reference, Strict


class ClaimIn(Strict):
    check_reference: Reference
    category: CareCategory
    care_date: IsoDate
    billed_cents: Cents
    base_tariff_cents: Cents
    amo_rate_bp: StrictInt = Field(ge=0, le=10_000)
    amc_cents: Cents = Field(description="What is asked of the complementary insurer.")


class ClaimOut(Strict):
    reference: str = Field(pattern=REFERENCE_PATTERN)
    check_reference: str = Field(pattern=REFERENCE_PATTERN)
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


class ClaimPageOut(Strict):
    items: list[ClaimOut]
    next_cursor: str | None
