"""Peer groups: what an account of a given profession and size usually looks like.

A new account has no history, so it is judged against its peers (a cold start, such
as a new practice, is not an attack); as its own history accumulates, its own
figures take over (see rempart.guard.profile). Priors ship as package data, one row
per profession, scaled by organisation size.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from rempart.core.care import Profession
from rempart.guard.context import SizeClass
from rempart.guard.errors import GuardConfigError

HOURS_PER_WEEK = 168
# How many checks one account makes relative to a SMALL organisation's account, and
# how many accounts' worth of checks an organisation of that size makes in all.
ACCOUNT_SCALE = {SizeClass.SOLO: 0.7, SizeClass.SMALL: 1.0, SizeClass.MEDIUM: 1.5,
                 SizeClass.LARGE: 2.5}
ORGANISATION_ACCOUNTS = {SizeClass.SOLO: 1.0, SizeClass.SMALL: 3.0, SizeClass.MEDIUM: 8.0,
                         SizeClass.LARGE: 40.0}
RATE_NAMES = ("new", "far", "fail", "near_miss", "unclaimed")


@dataclass(frozen=True, slots=True)
class PeerPrior:
    """The expected behaviour of one account in a peer group."""

    noun: str
    weekly_checks: float
    # Share of the week's checks in each local hour of the week (Monday 00h = 0).
    shape: tuple[float, ...]
    rates: Mapping[str, float]
    per_minute: float
    per_hour: float
    per_day: float
    new_device: float
    new_block: float
    organisation_accounts: float
    # From the shape, for an account with no learnt hours (see expected_volume): the
    # busiest share of each slot and its neighbours, and the share of the 24 h to it.
    hour_peak: tuple[float, ...]
    day_share: tuple[float, ...]


def _shape(days: list[int], hours: list[int], closed_share: float) -> tuple[float, ...]:
    open_slots = {d * 24 + h for d in days for h in range(hours[0], hours[1])}
    if not open_slots:
        raise GuardConfigError("peer prior: a profession needs at least one opening hour")
    closed = HOURS_PER_WEEK - len(open_slots)
    open_weight = (1.0 - closed_share) / len(open_slots)
    closed_weight = closed_share / closed if closed else 0.0
    return tuple(open_weight if s in open_slots else closed_weight
                 for s in range(HOURS_PER_WEEK))


def _prior(row: Mapping[str, Any], size: SizeClass) -> PeerPrior:
    scale = ACCOUNT_SCALE[size]
    days = list(row["days"])
    open_hours = row["hours"][1] - row["hours"][0]
    per_day = float(row["checks_per_open_day"]) * scale
    shape = _shape(days, list(row["hours"]), float(row["closed_share"]))
    return PeerPrior(
        noun=str(row["noun"]),
        weekly_checks=per_day * len(days) / (1.0 - float(row["closed_share"])),
        shape=shape,
        rates={name: float(row[name]) for name in RATE_NAMES},
        per_minute=float(row["per_minute"]) * scale ** 0.5,
        per_hour=float(row["per_hour"]) * scale,
        per_day=max(per_day * 1.5, float(row["per_hour"]) * scale * open_hours * 0.5),
        new_device=float(row["new_device"]),
        new_block=float(row["new_block"]),
        organisation_accounts=ORGANISATION_ACCOUNTS[size],
        hour_peak=tuple(max(shape[(s - 1) % HOURS_PER_WEEK], shape[s],
                            shape[(s + 1) % HOURS_PER_WEEK]) for s in range(HOURS_PER_WEEK)),
        day_share=tuple(sum(shape[(s - i) % HOURS_PER_WEEK] for i in range(24))
                        for s in range(HOURS_PER_WEEK)),
    )


class PeerProfiles:
    """Priors per (profession, size class), built once from a table of professions."""

    def __init__(self, table: Mapping[str, Mapping[str, Any]]) -> None:
        self._priors: dict[tuple[Profession, SizeClass], PeerPrior] = {}
        for profession in Profession:
            row = table.get(profession.value)
            if row is None:
                raise GuardConfigError(f"peer prior: no row for profession {profession.value}")
            try:
                for size in SizeClass:
                    self._priors[(profession, size)] = _prior(row, size)
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                raise GuardConfigError(
                    f"peer prior: malformed row for {profession.value}: {exc!r}") from exc

    @classmethod
    def default(cls) -> PeerProfiles:
        text = resources.files("rempart.guard").joinpath("data/peer_priors.json").read_text()
        table = {k: v for k, v in json.loads(text).items() if not k.startswith("_")}
        return cls(table)

    def prior(self, profession: Profession, size: SizeClass) -> PeerPrior:
        return self._priors[(profession, size)]
