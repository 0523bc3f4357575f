"""The guarantee grid: what each insurer's tier pays per care category.

Levels follow the usual French market: pharmacy at 100 % of the base tariff (BR);
consultations 100-300 % BR; dental 125-400 % BR with a yearly allowance; optical a flat
amount per 24 months; hearing aids a ceiling per ear, two ears every 48 months (the CSS
ceiling is the "100 % santé" class I price); hospital 100-300 % BR plus a flat amount per day
(daily fee, private room). CSS (Complémentaire santé solidaire) pays the regulated
minimum everywhere. An allowance always comes with its period, as the format requires.
Each insurer is a little more or less generous than the reference, and a previous grid
(slightly lower) was valid until the end of last year.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass

from rempart.core.care import CareCategory, GuaranteeKind
from rempart.synth.insurers import INSURERS, Tier

BASE = GuaranteeKind.BASE_SHARE
FLAT = GuaranteeKind.FLAT
CEILING = GuaranteeKind.CEILING
FULL_BR = 10_000  # basis points: 100 % of the base tariff
PREVIOUS_GRID_FACTOR = 0.9
HISTORY_YEARS = 30


@dataclass(frozen=True, slots=True)
class Level:
    kind: GuaranteeKind
    rate_bp: int | None = None
    amount_cents: int | None = None
    allowance_cents: int | None = None
    period_months: int | None = None


E, C, P, S = Tier.ESSENTIEL, Tier.CONFORT, Tier.PREMIUM, Tier.CSS

REFERENCE: dict[CareCategory, dict[Tier, Level]] = {
    CareCategory.PHARMACY: {t: Level(BASE, FULL_BR) for t in Tier},
    CareCategory.CONSULTATION: {
        E: Level(BASE, 10_000), C: Level(BASE, 15_000), P: Level(BASE, 25_000),
        S: Level(BASE, 10_000),
    },
    CareCategory.DENTAL: {
        E: Level(BASE, 12_500, allowance_cents=30_000, period_months=12),
        C: Level(BASE, 22_500, allowance_cents=60_000, period_months=12),
        P: Level(BASE, 35_000, allowance_cents=150_000, period_months=12),
        S: Level(BASE, 10_000),
    },
    CareCategory.OPTICAL: {  # one pair of glasses per 24 months
        E: Level(FLAT, amount_cents=10_000, allowance_cents=10_000, period_months=24),
        C: Level(FLAT, amount_cents=25_000, allowance_cents=25_000, period_months=24),
        P: Level(FLAT, amount_cents=50_000, allowance_cents=50_000, period_months=24),
        S: Level(BASE, 10_000),
    },
    CareCategory.HEARING: {  # per ear, both ears every 48 months
        E: Level(CEILING, amount_cents=40_000, allowance_cents=80_000, period_months=48),
        C: Level(CEILING, amount_cents=80_000, allowance_cents=160_000, period_months=48),
        P: Level(CEILING, amount_cents=150_000, allowance_cents=300_000, period_months=48),
        S: Level(CEILING, amount_cents=95_000, allowance_cents=190_000, period_months=48),
    },
    CareCategory.HOSPITAL: {
        E: Level(BASE, 10_000, amount_cents=2_000),
        C: Level(BASE, 15_000, amount_cents=5_000),
        P: Level(BASE, 25_000, amount_cents=8_500),
        S: Level(BASE, 10_000, amount_cents=2_000),
    },
    CareCategory.PHYSIOTHERAPY: {
        E: Level(BASE, 10_000), C: Level(BASE, 15_000), P: Level(BASE, 20_000),
        S: Level(BASE, 10_000),
    },
    CareCategory.NURSING: {
        E: Level(BASE, 10_000), C: Level(BASE, 10_000), P: Level(BASE, 15_000),
        S: Level(BASE, 10_000),
    },
    CareCategory.LABORATORY: {t: Level(BASE, FULL_BR) for t in Tier},
    CareCategory.RADIOLOGY: {
        E: Level(BASE, 10_000), C: Level(BASE, 15_000), P: Level(BASE, 20_000),
        S: Level(BASE, 10_000),
    },
}


# The range of rates (basis points of the base tariff) found on the market, whatever
# the insurer's generosity.
RATE_BOUNDS = {
    CareCategory.CONSULTATION: (10_000, 30_000), CareCategory.DENTAL: (12_500, 40_000),
    CareCategory.HOSPITAL: (10_000, 30_000), CareCategory.PHYSIOTHERAPY: (10_000, 20_000),
    CareCategory.NURSING: (10_000, 20_000), CareCategory.RADIOLOGY: (10_000, 25_000),
}


@dataclass(frozen=True, slots=True)
class GuaranteeRow:
    amc_number: str
    tier: Tier
    category: CareCategory
    level: Level
    third_party: bool
    valid_from: dt.date
    valid_to: dt.date | None


def _scaled(value: int | None, factor: float, *, step: int, floor: int = 0) -> int | None:
    if value is None:
        return None
    return max(floor, round(value * factor / step) * step)


def _adjust(level: Level, factor: float, category: CareCategory) -> Level:
    """Scale what lies above the regulated minimum; 100 % BR stays 100 % BR."""
    rate = level.rate_bp
    if rate is not None and rate > FULL_BR:
        low, high = RATE_BOUNDS.get(category, (FULL_BR, rate))
        scaled = _scaled(rate, factor, step=500) or rate
        rate = min(high, max(low, FULL_BR + 500, scaled))
    return Level(
        kind=level.kind, rate_bp=rate,
        amount_cents=_scaled(level.amount_cents, factor, step=500, floor=500),
        allowance_cents=_scaled(level.allowance_cents, factor, step=500, floor=500),
        period_months=level.period_months,
    )


def guarantee_grid(rng: random.Random, *, today: dt.date) -> Iterator[GuaranteeRow]:
    """Every insurer x tier x category, for the previous and the current grid."""
    current_from = dt.date(today.year, 1, 1)
    previous = (dt.date(today.year - HISTORY_YEARS, 1, 1), dt.date(today.year - 1, 12, 31))
    for profile in INSURERS:
        generosity = rng.uniform(0.85, 1.2)
        no_third_party_hearing = rng.random() < 0.3
        for tier in Tier:
            for category in CareCategory:
                reference = REFERENCE[category][tier]
                level = reference if tier is Tier.CSS else _adjust(reference, generosity,
                                                                    category)
                # Some insurers leave hearing aids outside third-party payment, except CSS.
                third_party = not (no_third_party_hearing and category is CareCategory.HEARING
                                   and tier is not Tier.CSS)
                old = level if tier is Tier.CSS else _adjust(level, PREVIOUS_GRID_FACTOR, category)
                yield GuaranteeRow(profile.amc_number, tier, category, old, third_party,
                                   previous[0], previous[1])
                yield GuaranteeRow(profile.amc_number, tier, category, level, third_party,
                                   current_from, None)
