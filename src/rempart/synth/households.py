"""Households: who lives together and shares a contract.

Singles (young adults, divorced, widowed retirees), couples with no child at home
(young couples, empty nests, retired couples), couples with children and single-parent
families, in roughly the French proportions (INSEE household census, approximate).
Ages come from the French age pyramid weighted by how likely each age is to head that
kind of household; children are placed from their mother's age, leave home after 24,
and are twins now and then. The contract holder is rank 1, a spouse rank 2, children
rank 3 and up.
"""

from __future__ import annotations

import enum
import math
import random
from dataclasses import dataclass

from rempart.core.care import MaritalStatus
from rempart.synth.people import Member, PersonFactory
from rempart.synth.tables import Departement, Tables
from rempart.synth.weighted import Weighted

MAX_HOUSEHOLD_SIZE = 7  # two adults and at most five children (twins included)
MAX_AGE = 104
ADULT_AGE = 18
CHILD_MAX_AGE = 24
TWIN_SHARE = 0.017
SAME_SEX_COUPLES = 0.03

# France on 1 January 2024, thousands of people per five-year age band (0-4 ... 100-104),
# INSEE estimates rounded.
PYRAMID_5Y = (3420, 3750, 4080, 4150, 3850, 3700, 4000, 4230, 4200, 4250, 4450, 4400,
              4200, 3950, 3700, 2950, 2000, 1350, 700, 200, 30)


class HouseholdKind(enum.IntEnum):  # an int: hashed in C, as a key of hot look-ups
    SINGLE = 1
    COUPLE = 2
    FAMILY = 3
    SINGLE_PARENT = 4


KIND_WEIGHTS = {HouseholdKind.SINGLE: 37.0, HouseholdKind.COUPLE: 29.0,
                HouseholdKind.FAMILY: 25.0, HouseholdKind.SINGLE_PARENT: 9.0}

# How likely a person of each age (from, to inclusive) heads each kind of household.
HEAD_PROPENSITY: dict[HouseholdKind, tuple[tuple[int, int, float], ...]] = {
    HouseholdKind.SINGLE: ((18, 24, 0.45), (25, 34, 0.45), (35, 54, 0.25), (55, 64, 0.35),
                           (65, 74, 0.5), (75, 84, 0.8), (85, 104, 1.2)),
    HouseholdKind.COUPLE: ((20, 24, 0.05), (25, 34, 0.2), (35, 44, 0.1), (45, 54, 0.3),
                           (55, 64, 0.8), (65, 74, 1.0), (75, 84, 0.8), (85, 99, 0.4)),
    HouseholdKind.FAMILY: ((22, 29, 0.15), (30, 39, 0.5), (40, 49, 0.6), (50, 59, 0.35)),
    HouseholdKind.SINGLE_PARENT: ((22, 29, 0.1), (30, 39, 0.25), (40, 49, 0.3),
                                  (50, 59, 0.15)),
}
CHILDREN = {  # number of children ever born: weight
    HouseholdKind.FAMILY: {1: 38.0, 2: 40.0, 3: 16.0, 4: 4.5, 5: 1.5},
    HouseholdKind.SINGLE_PARENT: {1: 55.0, 2: 32.0, 3: 10.0, 4: 3.0},
}
AGE_GAP_SD = 3.5  # years, spread of the age difference within a couple
AGE_GAP_MAX = 12
M, F = 1, 2
SINGLE, MARRIED, PACS = MaritalStatus.SINGLE.value, MaritalStatus.MARRIED.value, \
    MaritalStatus.PACS.value
DIVORCED, WIDOWED = MaritalStatus.DIVORCED.value, MaritalStatus.WIDOWED.value


@dataclass(slots=True)
class Household:
    kind: HouseholdKind
    home: Departement
    postcode: str
    members: list[Member]


def pyramid_at(age: int) -> float:
    return PYRAMID_5Y[min(age // 5, len(PYRAMID_5Y) - 1)] / 5


def _normal_weights(sd: float, limit: int) -> list[tuple[int, float]]:
    """Whole numbers from -limit to limit weighted like a centred normal distribution."""
    return [(x, math.exp(-0.5 * (x / sd) ** 2)) for x in range(-limit, limit + 1)]


def _age_table(kind: HouseholdKind) -> Weighted[int]:
    pairs = []
    for low, high, weight in HEAD_PROPENSITY[kind]:
        pairs += [(age, pyramid_at(age) * weight) for age in range(low, high + 1)]
    return Weighted(pairs)


class HouseholdFactory:
    def __init__(self, rng: random.Random, tables: Tables, people: PersonFactory) -> None:
        self._rng = rng
        self._departements = tables.departements
        self._people = people
        self._last_name = tables.last_names.sampler(rng)
        self._national = people.national.sampler(rng)
        self._kind = Weighted(KIND_WEIGHTS.items()).sampler(rng)
        self._ages = {kind: _age_table(kind).sampler(rng) for kind in HouseholdKind}
        self._children = {kind: Weighted(w.items()).sampler(rng) for kind, w in CHILDREN.items()}
        self._postcodes = {d.code: d.postcodes() for d in tables.departements}
        self._age_gap = Weighted(_normal_weights(AGE_GAP_SD, AGE_GAP_MAX)).sampler(rng)

    def household(self, limit: int) -> Household:
        """A new household of at most `limit` persons (the last one is cut to fit)."""
        kind = self._kind()
        home = self._departements[self._national()]
        age = self._ages[kind]()
        if kind is HouseholdKind.SINGLE:
            members = [self._single(home, age)]
        elif kind is HouseholdKind.SINGLE_PARENT:
            members = self._single_parent(home, age, limit)
        else:
            members = self._couple(home, age, with_children=kind is HouseholdKind.FAMILY,
                                   limit=limit)
        del members[limit:]
        postcodes = self._postcodes[home.code]
        return Household(kind, home, postcodes[int(self._rng.random() * len(postcodes))],
                         members)

    def _single(self, home: Departement, age: int) -> Member:
        rng = self._rng
        female_share = 0.45 if age < 55 else 0.6 if age < 75 else 0.75
        sex = F if rng.random() < female_share else M
        r = rng.random()
        if age < 30:
            marital = SINGLE if r < 0.97 else DIVORCED
        elif age < 55:
            marital = SINGLE if r < 0.6 else DIVORCED if r < 0.95 else WIDOWED
        elif age < 75:
            marital = SINGLE if r < 0.25 else DIVORCED if r < 0.65 else WIDOWED
        else:
            marital = SINGLE if r < 0.1 else DIVORCED if r < 0.25 else WIDOWED
        return self._people.newcomer(sex, age, home, True, self._last_name(), marital, 1)

    def _couple(self, home: Departement, age: int, *, with_children: bool,
                limit: int) -> list[Member]:
        rng = self._rng
        if rng.random() < SAME_SEX_COUPLES:
            holder_sex = spouse_sex = M if rng.random() < 0.5 else F
        else:
            holder_sex = M if rng.random() < 0.6 else F
            spouse_sex = F if holder_sex == M else M
        # Men are on average two years older than their partner.
        gap = self._age_gap() + (2 if holder_sex == M and spouse_sex == F else
                                 -2 if holder_sex == F and spouse_sex == M else 0)
        spouse_age = min(MAX_AGE, max(ADULT_AGE, age - gap))
        r = rng.random()
        married, pacs = (0.3, 0.25) if age < 35 else (0.55, 0.15) if age < 55 else (0.8, 0.05)
        marital = MARRIED if r < married else PACS if r < married + pacs else SINGLE
        holder_name, spouse_name = self._last_name(), self._last_name()
        if marital == MARRIED and holder_sex != spouse_sex and rng.random() < 0.8:
            # The wife usually goes by her husband's name.
            if holder_sex == M:
                spouse_name = holder_name
            else:
                holder_name = spouse_name
        newcomer = self._people.newcomer
        holder = newcomer(holder_sex, age, home, True, holder_name, marital, 1)
        spouse = newcomer(spouse_sex, spouse_age, home, True, spouse_name, marital, 2)
        members = [holder, spouse]
        if with_children and limit > 2:
            father = holder if holder_sex == M else spouse
            mother_age = spouse_age if spouse_sex == F else age
            family_name = father.last_name if rng.random() < 0.9 else (
                spouse.last_name if father is holder else holder.last_name)
            self._add_children(members, home, mother_age, family_name,
                               self._children[HouseholdKind.FAMILY]())
        return members

    def _single_parent(self, home: Departement, age: int, limit: int) -> list[Member]:
        rng = self._rng
        sex = F if rng.random() < 0.84 else M
        r = rng.random()
        marital = SINGLE if r < 0.45 else DIVORCED if r < 0.9 else WIDOWED if r < 0.95 \
            else MARRIED
        parent = self._people.newcomer(sex, age, home, True, self._last_name(), marital, 1)
        members = [parent]
        if limit > 1:
            family_name = parent.last_name if rng.random() < 0.7 else self._last_name()
            self._add_children(members, home, age, family_name,
                               self._children[HouseholdKind.SINGLE_PARENT]())
        return members

    def _add_children(self, members: list[Member], home: Departement, mother_age: int,
                      family_name: str, count: int) -> None:
        rng = self._rng
        people = self._people
        random = rng.random
        age = mother_age - 22 - int(random() * 14)  # mothers are 22-35 at the first birth
        if age > CHILD_MAX_AGE:  # the eldest left home: start from one still there
            age = CHILD_MAX_AGE - int(random() * 7)
        age = max(age, 0)
        previous: Member | None = None
        for _ in range(count):
            if age < 0:
                break
            sex = M if random() < 0.512 else F
            rank = max(3, members[-1].rank + 1)  # after the holder (1) and a spouse (2)
            if previous is not None and random() < TWIN_SHARE:
                # Twins: same date and place of birth, told apart by their birth rank.
                members.append(people.member(sex, previous.born, previous.place, family_name,
                                             SINGLE, 2, rank))
                previous = None
                continue
            previous = people.newcomer(sex, age, home, False, family_name, SINGLE, rank)
            members.append(previous)
            age -= 1 + int(random() * 5)  # one to five years between children

