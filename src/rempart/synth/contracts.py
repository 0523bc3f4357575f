"""Contracts: insurer, tier, validity and third-party payment of a household's cover.

Residents pick an insurer by its market share in their region; low-income households
(more often single parents) are on the CSS tier. Contracts started at any time in the
last 30 years, recent starts being more frequent (people change insurer); about 4 %
have already ended. Third-party payment is agreed on almost every contract.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from rempart.synth.days import Days
from rempart.synth.households import Household, HouseholdKind
from rempart.synth.insurers import (
    INSURERS,
    ContractNumbers,
    InsurerProfile,
    Tier,
    insurer_choice_by_region,
)
from rempart.synth.tables import Tables
from rempart.synth.weighted import Weighted

HISTORY_DAYS = 30 * 365
MEAN_CONTRACT_AGE_DAYS = 8 * 365
ADULT_DAYS = 18 * 365 + 5
TERMINATED_SHARE = 0.04
THIRD_PARTY_SHARE = 0.96
CSS = Tier.CSS.value

TIER_WEIGHTS = {
    HouseholdKind.SINGLE_PARENT: {Tier.ESSENTIEL: 30.0, Tier.CONFORT: 30.0,
                                  Tier.PREMIUM: 10.0, Tier.CSS: 30.0},
}
DEFAULT_TIER_WEIGHTS = {Tier.ESSENTIEL: 30.0, Tier.CONFORT: 40.0, Tier.PREMIUM: 20.0,
                        Tier.CSS: 10.0}


@dataclass(slots=True)
class Contract:
    insurer: int  # index in INSURERS
    number: str
    tier: str  # a Tier value
    start: int  # day numbers of the population's calendar (Days)
    end: int | None
    third_party: bool

    @property
    def profile(self) -> InsurerProfile:
        return INSURERS[self.insurer]


class ContractFactory:
    def __init__(self, rng: random.Random, tables: Tables, days: Days) -> None:
        self._random = rng.random
        self._today = days.last
        self._insurers = {region: choice.sampler(rng) for region, choice
                          in insurer_choice_by_region(tables.departements).items()}
        self._numbers = [ContractNumbers(p, offset=rng.randrange(10**p.contract_digits))
                         for p in INSURERS]
        self._tiers = {
            kind: Weighted((tier.value, weight) for tier, weight
                           in TIER_WEIGHTS.get(kind, DEFAULT_TIER_WEIGHTS).items()).sampler(rng)
            for kind in HouseholdKind
        }

    def contract(self, household: Household) -> Contract:
        random = self._random
        insurer = self._insurers[household.home.region]()
        tier = self._tiers[household.kind]()
        today = self._today
        earliest = min(today, max(household.members[0].born + ADULT_DAYS,
                                  today - HISTORY_DAYS))
        # Exponential ages (recent starts are frequent); too old: anywhere in the span.
        start = today + int(math.log(1.0 - random()) * MEAN_CONTRACT_AGE_DAYS)
        if start < earliest:
            start = earliest + int(random() * (today - earliest + 1))
        end = None
        if start < today and random() < TERMINATED_SHARE:
            end = start + int(random() * (today - start))
        third_party = tier == CSS or random() < THIRD_PARTY_SHARE
        return Contract(insurer, self._numbers[insurer].next(), tier, start, end, third_party)
