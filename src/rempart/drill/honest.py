"""Honest providers: checking local, often recurring patients in opening hours, claiming
within two days, with typos, busy days, holidays and days of leave, a new practice that
starts late and a provider who moves to a new device (new key or browser, new address)
half-way. Small practices work at the portal's forms, pharmacies and hospitals through
their practice software (`profiles.PORTAL_PROFESSIONS`, `drill/desks.py`).

Against a running instance (real time) a provider works a short live window at a busy
hour's pace instead of whole simulated days, and bills within seconds.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator
from typing import Any

from rempart.drill.desks import Desk, Outcome, PortalDesk, SoftwareDesk
from rempart.drill.profiles import (
    BUSY_DAY_SHARE,
    CLAIM_SHARE,
    DAY_OFF_SHARE,
    PORTAL_PROFESSIONS,
    PROFILES,
    PUBLIC_HOLIDAYS,
    TYPO_SHARE,
    Profile,
)
from rempart.drill.scoring import LegitLog
from rempart.drill.truth import Person
from rempart.drill.world import Account, World
from rempart.guard.geo import distance_km

LIVE_CLAIM_DELAY_S = (5.0, 30.0)
# The fewest patients a practice's pool holds (see _patients).
POOL_SIZE = 30


def _patients(rng: random.Random, members: list[Person], departement: str) -> list[Person]:
    """A practice's patients live around it: its département first, then the nearest
    ones until the pool holds POOL_SIZE people (a real département holds hundreds of
    thousands; the drill's small population holds a handful per département, so the
    neighbours stand in for them), and one in twenty from anywhere (travellers,
    people who moved)."""
    active = [p for p in members if p.active] or members
    by_departement: dict[str, list[Person]] = {}
    for person in active:
        by_departement.setdefault(person.departement, []).append(person)
    pool: list[Person] = list(by_departement.pop(departement, []))
    nearest = sorted(by_departement, key=lambda d: (distance_km(departement, d) or 1e9, d))
    for code in nearest:
        if len(pool) >= POOL_SIZE:
            break
        pool += by_departement[code]
    chosen = {id(p) for p in pool}
    elsewhere = [p for p in active if id(p) not in chosen]
    pool += rng.sample(elsewhere, k=min(len(elsewhere), max(1, len(pool) // 20)))
    return pool or members


class HonestProvider:
    def __init__(self, world: World, account: Account, *, rng: random.Random, days: int,
                 log: LegitLog, address: str, starts_on_day: int = 0,
                 moves_on_day: int | None = None, live_until: dt.datetime | None = None
                 ) -> None:
        self._world = world
        self._account = account
        self._rng = rng
        self._days = days
        self._log = log
        self._address = address
        self._starts = starts_on_day
        self._moves = moves_on_day
        self._live_until = live_until
        self.profile: Profile = PROFILES.get(account.profession, PROFILES["pharmacy"])
        self.portal = account.profession in PORTAL_PROFESSIONS
        self._patients = _patients(rng, world.members, account.departement)
        self._regulars = self._patients[: max(3, len(self._patients) // 3)]
        self.desk = self._new_desk(address)

    def _new_desk(self, address: str) -> Desk:
        kind = PortalDesk if self.portal else SoftwareDesk
        return kind(self._world, self._account, address=address)

    def schedule(self, start: dt.datetime) -> list[dt.datetime]:
        """The moments of every check over the run, in order."""
        if self._live_until is not None:
            return self._live_schedule(start, self._live_until)
        moments: list[dt.datetime] = []
        for day in range(self._starts, self._days):
            date = start.date() + dt.timedelta(days=day)
            if date.weekday() not in self.profile.open_days or self._closed(date):
                continue
            low, high = self.profile.visits
            visits = self._rng.randint(low, high)
            if self._rng.random() < BUSY_DAY_SHARE:
                visits = visits * 3 // 2
            checks = sum(1 for _ in range(visits) if self._rng.random() < self.profile.check_share)
            opening = dt.datetime.combine(date, dt.time(), tzinfo=dt.UTC)
            for _ in range(checks):
                hour = self._rng.uniform(self.profile.opens_h, self.profile.closes_h)
                moments.append(opening + dt.timedelta(hours=hour))
        return sorted(moments)

    def _live_schedule(self, start: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
        """A short live window: the first patient soon after the start, then the gaps of
        a busy hour (twice the profession's average pace)."""
        window = (until - start).total_seconds()
        low, high = self.profile.visits
        per_day = (low + high) / 2 * self.profile.check_share
        mean_gap = (self.profile.closes_h - self.profile.opens_h) * 3600 / per_day / 2
        moment = start + dt.timedelta(seconds=self._rng.uniform(5, max(6.0, window / 3)))
        moments = []
        while moment < until:
            moments.append(moment)
            moment += dt.timedelta(seconds=self._rng.expovariate(1 / mean_gap))
        return moments

    def _claim_delay(self) -> dt.timedelta:
        if self._live_until is not None:
            return dt.timedelta(seconds=self._rng.uniform(*LIVE_CLAIM_DELAY_S))
        return dt.timedelta(hours=self._rng.uniform(0.1, 47.9))

    async def run(self, start: dt.datetime) -> AsyncIterator[dt.datetime]:
        account = f"honest-{self._account.account_id}"
        pending: list[tuple[dt.datetime, Outcome, dt.date]] = []  # claims to send
        for moment in self.schedule(start):
            while pending and pending[0][0] <= moment:
                due, checked, care_date = pending.pop(0)
                yield due
                await self._claim(account, checked, care_date)
            yield moment
            day = (moment.date() - start.date()).days
            if self._moves is not None and day >= self._moves:
                await self.close()
                self.desk = self._new_desk(self._address.rsplit(".", 1)[0] + ".200")
                self._moves = None
            person = self._pick()
            payload: dict[str, Any] = person.payload(category=self.profile.category,
                                                     care_date=moment.date())
            if self._rng.random() < TYPO_SHARE:
                wrong = dict(payload, birth_date=(person.birth_date + dt.timedelta(days=1))
                             .isoformat())
                self._answered(account, await self.desk.check(wrong))
                yield moment + dt.timedelta(seconds=60)
            answer = await self.desk.check(payload)
            self._answered(account, answer)
            if answer.covered and self._rng.random() < CLAIM_SHARE:
                pending.append((moment + self._claim_delay(), answer, moment.date()))
                pending.sort(key=lambda item: item[0])
        for due, checked, care_date in pending:
            yield due
            await self._claim(account, checked, care_date)

    def _answered(self, account: str, answer: Outcome) -> None:
        self._log.met(account=account, statuses=answer.met)
        self._log.answer(account=account, status=answer.status, covered=answer.covered,
                         portal=self.portal)

    async def _claim(self, account: str, checked: Outcome, care_date: dt.date) -> None:
        answer = await self.desk.claim(reference=checked.reference or "",
                                       category=checked.category or self.profile.category,
                                       care_date=care_date)
        self._log.met(account=account, statuses=answer.met)
        self._log.claim(account=account, status=answer.status)

    def _closed(self, date: dt.date) -> bool:
        """Public holidays (except for hospitals) and the odd day of leave."""
        if self.profile.category != "hospital" and (date.month, date.day) in PUBLIC_HOLIDAYS:
            return True
        return self._rng.random() < DAY_OFF_SHARE

    def _pick(self) -> Person:
        if self._rng.random() < self.profile.regular_share:
            return self._rng.choice(self._regulars)
        return self._rng.choice(self._patients)

    async def close(self) -> None:
        self._log.portal_sign_ins += self.desk.sign_ins
        await self.desk.close()
