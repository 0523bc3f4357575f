"""JSON shapes of the check API (requests validated by pydantic, answers documented).

Answers are serialised straight from the service's dataclasses with orjson; these
models describe them for the OpenAPI document, and tests hold the two together.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

from rempart.core.care import CareCategory, GuaranteeKind
from rempart.coverage.references import REFERENCE_PATTERN

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date_text(value: Any) -> Any:
    """Only "YYYY-MM-DD" text: pydantic would otherwise take numbers as timestamps."""
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date_text)]
Reference = Annotated[str, Field(pattern=REFERENCE_PATTERN, description="A check reference.")]
Cents = Annotated[StrictInt, Field(ge=0, le=10_000_000, description="An amount in cents.")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckIn(Strict):
    """What the patient presents, the care category and the date of care."""

    nir: str = Field(min_length=15, max_length=21,
                     description="Social security number with its 2-digit key (spaces allowed).")
    birth_date: IsoDate
    birth_rank: StrictInt = Field(ge=1, le=9, description="Rang de naissance, 1 to 9.")
    amc_number: str = Field(min_length=1, max_length=10, pattern=r"^[0-9A-Za-z]+$",
                            description="The complementary insurer's number, as on the card.")
    member_number: str = Field(min_length=1, max_length=30,
                               pattern=r"^[0-9A-Za-z][0-9A-Za-z./-]*$",
                               description="The member number, as on the card.")
    category: CareCategory
    care_date: IsoDate


class GuaranteeOut(Strict):
    kind: GuaranteeKind
    rate_bp: int | None = Field(description="base_share: the share of the base tariff, in "
                                            "basis points (10000 = 100 % BR), AMO included.")
    amount_cents: int | None = Field(description="flat: the amount per act; ceiling: the "
                                                 "ceiling per act.")
    allowance_period_months: int | None
    allowance_remaining_cents: int | None = Field(
        description="What is left of the periodic allowance on the date of care.")


class CheckOut(Strict):
    """The whole answer: nothing else about the person is ever returned."""

    reference: str = Field(pattern=REFERENCE_PATTERN)
    covered: bool
    category: CareCategory
    care_date: dt.date
    checked_at: dt.datetime
    third_party_payment: bool
    guarantee: GuaranteeOut | None


class CalculationIn(Strict):
    billed_cents: Cents
    base_tariff_cents: Cents = Field(description="The public base tariff (BR) of the act.")
    amo_rate_bp: StrictInt = Field(ge=0, le=10_000,
                                   description="The public insurer's rate, in basis points.")


class CalculationOut(Strict):
    reference: str = Field(pattern=REFERENCE_PATTERN)
    billed_cents: int
    amo_cents: int
    amc_cents: int
    patient_cents: int
    allowance_remaining_cents: int | None = Field(
        description="What is left of the periodic allowance after this act.")


class CheckSummaryOut(Strict):
    reference: str = Field(pattern=REFERENCE_PATTERN)
    category: CareCategory
    care_date: dt.date
    covered: bool
    checked_at: dt.datetime


class CheckPageOut(Strict):
    items: list[CheckSummaryOut]
    next_cursor: str | None = Field(description="Pass as `after` for the next page.")
