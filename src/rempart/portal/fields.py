"""Turning form text into typed values: dates, small integers, euros and percentages.

Each parser raises FieldProblem naming the field; the value never appears in it.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from rempart.core.calculation import MAX_AMO_RATE_BP

_AMOUNT = re.compile(r"^\d{1,7}([.,]\d{1,2})?$")
_RATE = re.compile(r"^\d{1,3}([.,]\d{1,2})?$")


class FieldProblem(ValueError):
    def __init__(self, field: str) -> None:
        self.field = field
        super().__init__(field)


def date_field(form: dict[str, str], name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(form.get(name, "").strip())
    except ValueError:
        raise FieldProblem(name) from None


def int_field(form: dict[str, str], name: str, *, low: int, high: int) -> int:
    text = form.get(name, "").strip()
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise FieldProblem(name)
    return int(text)


def cents_field(form: dict[str, str], name: str) -> int:
    """Euros as typed at a French or English counter ("12,50" or "12.50") to cents."""
    text = form.get(name, "").strip().replace("\u00a0", "").replace(" ", "")
    if not _AMOUNT.match(text):
        raise FieldProblem(name)
    return int(Decimal(text.replace(",", ".")) * 100)


def basis_points_field(form: dict[str, str], name: str) -> int:
    """A percentage ("60" or "60,5") to basis points."""
    text = form.get(name, "").strip().rstrip("%").strip()
    if not _RATE.match(text):
        raise FieldProblem(name)
    try:
        value = int(Decimal(text.replace(",", ".")) * 100)
    except InvalidOperation:
        raise FieldProblem(name) from None
    if not 0 <= value <= MAX_AMO_RATE_BP:
        raise FieldProblem(name)
    return value
