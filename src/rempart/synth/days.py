"""Every day of the population's calendar, precomputed.

Dates are handled as day numbers (0 = the first day of the table) in the hot loop; the
ISO text, year and month of each day are looked up here rather than computed for each
of millions of persons. The table covers the oldest possible birth up to `today`,
about 40,000 days whatever the size of the population.
"""

from __future__ import annotations

import calendar
import datetime as dt

_TWO = tuple(f"{i:02d}" for i in range(100))


class Days:
    def __init__(self, *, first: dt.date, last: dt.date) -> None:
        if last < first:
            raise ValueError("the calendar ends before it starts")
        self._first = first.toordinal()
        iso: list[str] = []
        years: list[int] = []
        months: list[int] = []
        for year in range(first.year, last.year + 1):
            for month in range(1, 13):
                prefix = f"{year:04d}-{_TWO[month]}-"
                length = calendar.monthrange(year, month)[1]
                iso += [prefix + _TWO[day] for day in range(1, length + 1)]
                years += [year] * length
                months += [month] * length
        start = first.toordinal() - dt.date(first.year, 1, 1).toordinal()
        stop = start + last.toordinal() - self._first + 1
        self.iso: tuple[str, ...] = tuple(iso[start:stop])
        self.year: tuple[int, ...] = tuple(years[start:stop])
        self.month: tuple[int, ...] = tuple(months[start:stop])
        self.last = stop - start - 1

    def day(self, date: dt.date) -> int:
        return date.toordinal() - self._first

    def date(self, day: int) -> dt.date:
        return dt.date.fromordinal(self._first + day)
