"""Field-level parsing shared by every file kind.

Each parser takes the column name and the raw text and returns a typed value or
raises FieldError with a reason that describes the rule, never the value.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import re
from typing import TypeVar

from rempart.core.care import MaritalStatus
from rempart.core.identifiers import BIRTH_DATE_AGREEING_PATTERN, NIR_QUICK_PATTERN
from rempart.ingest.errors import FieldError

E = TypeVar("E", bound=enum.Enum)

CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_POSTCODE = re.compile(r"^(?:0[1-9]|[1-8][0-9]|9[0-8])[0-9]{3}$")
_DEPARTEMENT = re.compile(r"^(?:0[1-9]|1[0-9]|2[1-9]|[3-8][0-9]|9[0-5]|2A|2B|97[1-6])$")
_AMC = re.compile(r"^\d{8,10}$")
_TIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9./-]{0,29}$")  # contract and member numbers
_EARLIEST_DATE = dt.date(1900, 1, 1)

# The quick acceptance test of the members hot path: one regular expression over a
# whole `upsert` line. A line it refuses is then parsed field by field by the
# functions below, which accept it or give the reason; so it may refuse more than
# the parsers (a rank of "01", a lower-case member number, a name with surrounding
# spaces) but must never accept what a parser refuses. What it leaves
# to the caller: the insurer and tier (known ones), the dates' calendar, the NIR's key.
_QUICK_DATE = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
_QUICK_REFERENCE = "[A-Z0-9][A-Z0-9./-]{0,29}"  # already upper-case
_QUICK_NAME = r"[^;\s][^;\n]{0,99}(?<!\s)"  # 1-100 characters, already stripped
_QUICK_UPSERT = ";".join((
    "upsert", "[^;\n]*", _QUICK_REFERENCE, "[^;\n]*", _QUICK_DATE, f"(?:{_QUICK_DATE})?", "[01]",
    _QUICK_REFERENCE, "[1-9][0-9]?", NIR_QUICK_PATTERN, BIRTH_DATE_AGREEING_PATTERN, "[1-9]",
    _QUICK_NAME, _QUICK_NAME, "(?:" + "|".join(m.value for m in MaritalStatus) + ")",
    _POSTCODE.pattern[1:-1], _DEPARTEMENT.pattern[1:-1]))
members_upsert_quick = re.compile(_QUICK_UPSERT).fullmatch
# The same over a whole chunk of lines, each ending with a newline: one call in C.
members_upsert_chunk_quick = re.compile(f"(?:{_QUICK_UPSERT}\n)*").fullmatch


def required(name: str, raw: str) -> str:
    if not raw:
        raise FieldError(name, "is required")
    return raw


def must_be_empty(name: str, raw: str, why: str) -> None:
    if raw:
        raise FieldError(name, f"must be empty {why}")


@functools.lru_cache(maxsize=131_072)  # distinct dates are bounded by the calendar
def parse_date(raw: str) -> dt.date | None:
    if not _ISO_DATE.match(raw):
        return None
    try:
        value = dt.date.fromisoformat(raw)
    except ValueError:
        return None
    return value if value >= _EARLIEST_DATE else None


@functools.lru_cache(maxsize=2)
def dates_until(last: dt.date) -> frozenset[str]:
    """Every possible date from 1900-01-01 to `last`, as YYYY-MM-DD: a set look-up
    tells a date of birth good (about 46,000 strings, 3 MB, built once per day)."""
    first = _EARLIEST_DATE.toordinal()
    return frozenset(dt.date.fromordinal(day).isoformat()
                     for day in range(first, max(first, last.toordinal() + 1)))


def date(name: str, raw: str) -> dt.date:
    value = parse_date(required(name, raw))
    if value is None:
        raise FieldError(name, "is not a possible date (YYYY-MM-DD, from 1900-01-01)")
    return value


def optional_date(name: str, raw: str) -> dt.date | None:
    return date(name, raw) if raw else None


def integer(name: str, raw: str, *, low: int, high: int) -> int:
    if not required(name, raw).isascii() or not raw.isdigit():
        raise FieldError(name, f"must be a whole number from {low} to {high}")
    value = int(raw)
    if not low <= value <= high:
        raise FieldError(name, f"must be a whole number from {low} to {high}")
    return value


def optional_integer(name: str, raw: str, *, low: int, high: int) -> int | None:
    return integer(name, raw, low=low, high=high) if raw else None


def flag(name: str, raw: str) -> bool:
    if raw == "1":
        return True
    if raw == "0":
        return False
    raise FieldError(name, "must be 1 or 0")


def choice(name: str, raw: str, enum_type: type[E]) -> E:
    try:
        return enum_type(required(name, raw))
    except ValueError:
        allowed = ", ".join(str(member.value) for member in enum_type)
        raise FieldError(name, f"must be one of: {allowed}") from None


def text(name: str, raw: str, *, max_length: int) -> str:
    value = required(name, raw).strip()
    if not value:
        raise FieldError(name, "is blank")
    if len(value) > max_length:
        raise FieldError(name, f"is longer than {max_length} characters")
    return value


def _pattern(name: str, raw: str, pattern: re.Pattern[str], rule: str) -> str:
    if not pattern.match(required(name, raw)):
        raise FieldError(name, rule)
    return raw


def amc_number(name: str, raw: str) -> str:
    return _pattern(name, raw, _AMC, "must be an AMC number of 8 to 10 digits")


def tier(name: str, raw: str) -> str:
    return _pattern(name, raw, _TIER, "must be 1-40 letters, digits, _ or -, starting alphanumeric")


def reference(name: str, raw: str) -> str:
    """A contract or member number: 1-30 of A-Z, a-z, 0-9, '.', '/', '-'; compared upper-case."""
    return _pattern(name, raw, _REFERENCE,
                    "must be 1-30 letters, digits, '.', '/' or '-', starting alphanumeric").upper()


def postcode(name: str, raw: str) -> str:
    return _pattern(name, raw, _POSTCODE, "must be a French postcode of 5 digits")


def departement(name: str, raw: str) -> str:
    return _pattern(name, raw, _DEPARTEMENT,
                    "must be a département code (01-95 without 20, 2A, 2B, 971-976)")
