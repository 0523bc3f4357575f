"""The allowance ledger: what accepted claims consumed, and the split of a bill under it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection

from rempart.core.calculation import Bill, InvalidAmount, Split, split_bill
from rempart.coverage import check_store
from rempart.coverage.errors import FieldError, InvalidRequest
from rempart.coverage.rules import GuaranteeRow, allowance_window, remaining_allowance


def remaining_on(conn: Connection, *, guarantee: GuaranteeRow, beneficiary_id: int,
                 category: str, care_date: dt.date) -> int | None:
    """What is left of the guarantee's allowance for care on that date; None without one."""
    if not guarantee.has_allowance or guarantee.period_months is None:
        return None
    start, end = allowance_window(care_date, guarantee.period_months)
    used = check_store.allowance_used(conn, beneficiary_id=beneficiary_id, category=category,
                                      start=start, end=end)
    return remaining_allowance(guarantee, used)


def split_under(bill: Bill, guarantee: GuaranteeRow | None, remaining: int | None) -> Split:
    """The pure calculation, its input errors turned into a request error."""
    try:
        return split_bill(bill, guarantee.terms if guarantee else None,
                          allowance_remaining_cents=remaining)
    except InvalidAmount as exc:
        raise InvalidRequest([FieldError(exc.field, exc.reason)]) from None
