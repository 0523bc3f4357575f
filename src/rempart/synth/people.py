"""One person: date and place of birth, NIR and first name.

Birth places follow residence: most people were born in the département where they
live, many in another département of the same region, a minority far away, and about
7 % abroad (NIR place 99 + INSEE country code). Children were born near home far more
often than adults, who have had time to move.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass

from rempart.synth.days import Days
from rempart.synth.nir_allocator import NirAllocator
from rempart.synth.tables import Departement, Tables
from rempart.synth.weighted import Weighted

DAYS_PER_YEAR = 365.2425
OLDEST = 105  # years: the calendar starts before the oldest possible birth

# Shares of birth places for (same département, same region, elsewhere in France);
# the rest were born abroad.
ADULT_BIRTHPLACE = (0.60, 0.20, 0.115)
CHILD_BIRTHPLACE = (0.82, 0.13, 0.04)


@dataclass(slots=True)
class Member:
    """A person as a member of a contract."""

    sex: int  # 1 male, 2 female, as in the NIR
    born: int  # day number in `PersonFactory.days`
    place: int  # birth place index for the NIR allocator
    nir: str
    first_name: str
    last_name: str
    marital: str
    birth_rank: int  # 2 for the second of twins
    rank: int  # on the contract: holder 1, spouse 2, children 3 and up


class PersonFactory:
    def __init__(self, rng: random.Random, tables: Tables, today: dt.date) -> None:
        self._random = rng.random
        self.days = Days(first=dt.date(today.year - OLDEST - 1, 1, 1), last=today)
        self._first_year = today.year - OLDEST - 1
        departements = tables.departements
        self.national = Weighted((d.index, float(d.population)) for d in departements)
        self._national = self.national.sampler(rng)
        self._regional = {
            region: Weighted((d.index, float(d.population))
                             for d in departements if d.region == region).sampler(rng)
            for region in sorted({d.region for d in departements})
        }
        first_country = len(departements)
        self._abroad = Weighted((first_country + i, float(c.weight))
                                for i, c in enumerate(tables.countries)).sampler(rng)
        places = [d.nir_place() for d in departements]
        places += [c.nir_place() for c in tables.countries]
        self._nirs = NirAllocator(places)
        # first_names[sex - 1][year - first year]: the names of that generation
        years = range(self._first_year, today.year + 1)
        self._first_names: tuple[tuple[Callable[[], str], ...], ...] = tuple(
            tuple(by_decade[tables.decade_index(year)].sampler(rng) for year in years)
            for by_decade in tables.first_names
        )

    def newcomer(self, sex: int, age: int, home: Departement, adult: bool, last_name: str,
                 marital: str, rank: int) -> Member:
        """A person `age` years old living in `home`, born there, nearby or far away."""
        random = self._random
        born = self.days.last - int((age + random()) * DAYS_PER_YEAR)
        same, region, france = ADULT_BIRTHPLACE if adult else CHILD_BIRTHPLACE
        r = random()
        if r < same:
            place = home.index
        elif r < same + region:
            place = self._regional[home.region]()
        elif r < same + region + france:
            place = self._national()
        else:
            place = self._abroad()
        # What `member` does, inlined: this runs once per person.
        days = self.days
        year = days.year[born]
        nir = self._nirs.allocate(sex, year, days.month[born], place)
        return Member(sex, born, place, nir, self._first_names[sex - 1][year - self._first_year](),
                      last_name, marital, 1, rank)

    def member(self, sex: int, born: int, place: int, last_name: str, marital: str,
               birth_rank: int, rank: int) -> Member:
        """A new person, with a NIR of their own and a first name of their generation."""
        days = self.days
        year = days.year[born]
        nir = self._nirs.allocate(sex, year, days.month[born], place)
        return Member(sex, born, place, nir, self._first_names[sex - 1][year - self._first_year](),
                      last_name, marital, birth_rank, rank)
