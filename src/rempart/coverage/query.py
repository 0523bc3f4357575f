"""What a provider presents for a check, and its validation into a query.

Both classes hide their values from `repr`, so neither can reach a log or a traceback
by accident.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from rempart.core.care import CareCategory
from rempart.core.errors import InvalidIdentifier
from rempart.core.identifiers import validate_nir
from rempart.coverage.errors import FieldError, InvalidRequest
from rempart.population.sealing import normalise_member_number

EARLIEST_BIRTH_DATE = dt.date(1900, 1, 1)
# A check may concern care up to two years back (the billing limit) or three months ahead.
CARE_DAYS_BACK = 730
CARE_DAYS_AHEAD = 90
MAX_BIRTH_RANK = 9
AMC_NUMBER_RE = re.compile(r"^[0-9A-Z]{1,10}$")
MEMBER_NUMBER_RE = re.compile(r"^[0-9A-Z][0-9A-Z./-]{0,29}$")


@dataclass(frozen=True, slots=True, repr=False)
class CheckRequest:
    """The presented values as received; nothing is trusted yet."""

    nir: str
    birth_date: dt.date
    birth_rank: int
    amc_number: str
    member_number: str
    category: str
    care_date: dt.date

    def __repr__(self) -> str:
        return "CheckRequest(<redacted>)"


@dataclass(frozen=True, slots=True, repr=False)
class CheckQuery:
    """A validated, normalised check: what the look-up compares against sealed rows."""

    nir: str
    birth_date: dt.date
    birth_rank: int
    amc_number: str
    member_number: str
    category: CareCategory
    care_date: dt.date

    def __repr__(self) -> str:
        return f"CheckQuery(<redacted>, category={self.category.value})"


def validate_request(request: CheckRequest, *, today: dt.date) -> CheckQuery:
    """Validate every field, collecting all errors, or raise InvalidRequest."""
    errors: list[FieldError] = []
    nir = ""
    try:
        nir = validate_nir(request.nir)
    except InvalidIdentifier as exc:
        errors.append(FieldError("nir", exc.reason))
    if not EARLIEST_BIRTH_DATE <= request.birth_date <= today:
        errors.append(FieldError("birth_date", "must be between 1900-01-01 and today"))
    if not 1 <= request.birth_rank <= MAX_BIRTH_RANK:
        errors.append(FieldError("birth_rank", f"must be between 1 and {MAX_BIRTH_RANK}"))
    amc_number = request.amc_number.strip().upper()
    if not AMC_NUMBER_RE.match(amc_number):
        errors.append(FieldError("amc_number", "must be 1 to 10 letters or digits"))
    member_number = normalise_member_number(request.member_number)
    if not MEMBER_NUMBER_RE.match(member_number):
        errors.append(FieldError("member_number",
                                 "must be 1 to 30 letters, digits, '.', '/' or '-'"))
    category = _category(request.category, errors)
    earliest = today - dt.timedelta(days=CARE_DAYS_BACK)
    latest = today + dt.timedelta(days=CARE_DAYS_AHEAD)
    if not earliest <= request.care_date <= latest:
        errors.append(FieldError(
            "care_date", f"must be within {CARE_DAYS_BACK} days before and "
                         f"{CARE_DAYS_AHEAD} days after today"))
    elif request.care_date < request.birth_date:
        errors.append(FieldError("care_date", "must not be before the date of birth"))
    if errors or category is None:
        raise InvalidRequest(errors)
    return CheckQuery(nir=nir, birth_date=request.birth_date, birth_rank=request.birth_rank,
                      amc_number=amc_number, member_number=member_number, category=category,
                      care_date=request.care_date)


_CATEGORIES = {category.value: category for category in CareCategory}  # Enum's call costs more


def _category(value: str, errors: list[FieldError]) -> CareCategory | None:
    category = _CATEGORIES.get(value) if isinstance(value, str) else None
    if category is None:
        errors.append(FieldError("category", "unknown care category"))
    return category
