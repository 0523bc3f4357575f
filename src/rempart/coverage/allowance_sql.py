"""The allowance already used, as a column of the check's look-up.

A guarantee's allowance counts the accepted and paid claims of the beneficiary for the
category over the guarantee's period ending on the date of care
(`rules.allowance_window`). Computed per guarantee row inside the look-up, a check
sends one statement instead of two. The period's start is `rules.minus_months` written
in SQL for each dialect (`MonthsBefore`). Every row gets a window, the neutral one
where the row has no allowance (or no guarantee) and a beneficiary that matches no
claim where nothing matched, so every check runs the same sub-query whatever it finds.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, and_, bindparam, case, func, or_, select
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from rempart.coverage.models import Claim
from rempart.coverage.rules import CONSUMING, NEUTRAL_PERIOD_MONTHS
from rempart.population.models import Beneficiary, Guarantee

NO_BENEFICIARY = -1  # no claim has it: the sub-query still runs on a miss


class MonthsBefore(FunctionElement[dt.date]):
    """`minus_months(day, months)` in SQL: the same day `months` months earlier, or the
    last day of that month when it is shorter."""

    type = Date()
    inherit_cache = True
    name = "months_before"


@compiles(MonthsBefore, "sqlite")
def _months_before_sqlite(element: MonthsBefore, compiler: SQLCompiler, **kw: Any) -> str:
    day, months = (compiler.process(clause, **kw) for clause in element.clauses)
    # SQLite's own '-N months' overflows into the next month (03-31 minus one month is
    # 03-02): count months from the first of the month, then add the day, capped at
    # the month's last day. ISO dates compare as text.
    first = f"date({day}, 'start of month', '-' || ({months}) || ' months')"
    return (f"min(date({first}, '+' || (CAST(strftime('%d', {day}) AS INTEGER) - 1) "
            f"|| ' days'), date({first}, '+1 month', '-1 day'))")


@compiles(MonthsBefore, "postgresql")
def _months_before_postgresql(element: MonthsBefore, compiler: SQLCompiler,
                              **kw: Any) -> str:
    day, months = (compiler.process(clause, **kw) for clause in element.clauses)
    # PostgreSQL's month arithmetic keeps the day and caps it at the month's last day.
    return f"CAST(CAST({day} AS DATE) - make_interval(months => {months}) AS DATE)"


@compiles(MonthsBefore)
def _months_before_other(element: MonthsBefore, compiler: SQLCompiler, **kw: Any) -> str:
    raise CompileError(f"months_before has no form for {compiler.dialect.name}")


def allowance_used_column() -> ColumnElement[int]:
    """The allowance used under the row's guarantee (correlated with the look-up's
    beneficiary and guarantee), 0 when no claim counts."""
    months = case((and_(Guarantee.allowance_cents.is_not(None),
                        Guarantee.period_months.is_not(None)), Guarantee.period_months),
                  else_=NEUTRAL_PERIOD_MONTHS)
    care_date = bindparam("care_date", type_=Date)
    return (
        select(func.coalesce(func.sum(Claim.amc_cents), 0))
        .where(Claim.beneficiary_id == func.coalesce(Beneficiary.id, NO_BENEFICIARY),
               Claim.category == bindparam("category"),
               or_(*(Claim.status == status for status in CONSUMING)),  # not an expanding IN
               Claim.care_date > MonthsBefore(care_date, months),
               Claim.care_date <= care_date)
        .scalar_subquery()
    )
