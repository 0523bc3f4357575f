"""Honest providers: practice software checking local, often recurring patients in opening
hours, claiming within two days, with typos, busy days, holidays and days of leave, a
new practice that starts late and a provider who moves to a new device (new key, new
address) half-way."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator
from typing import Any

from rempart.drill.agents import ApiAgent, disclosed
from rempart.drill.profiles import (
    BUSY_DAY_SHARE,
    CLAIM_SHARE,
    DAY_OFF_SHARE,
    PROFILES,
    PUBLIC_HOLIDAYS,
    TYPO_SHARE,
    Profile,
)
from rempart.drill.scoring import LegitLog
from rempart.drill.truth import Person
from rempart.drill.world import Account, World


def _claim_body(check: dict[str, Any], care_date: dt.date) -> dict[str, Any]:
    """A plain claim for the checked act: 20 EUR billed, base tariff 15 EUR, the compulsory
    scheme paying 65 %, the rest of the base asked of the insurer."""
    return {"check_reference": check["reference"], "category": check["category"],
            "care_date": care_date.isoformat(), "billed_cents": 2000,
            "base_tariff_cents": 1500, "amo_rate_bp": 6500, "amc_cents": 525}


def _patients(rng: random.Random, members: list[Person], departement: str) -> list[Person]:
    """Mostly people living in the provider's département, some from elsewhere."""
    local = [p for p in members if p.departement == departement and p.active]
    active = [p for p in members if p.active] or members
    pool = local + rng.sample(active, k=min(len(active), max(5, len(local) // 4)))
    return pool or members


class HonestProvider:
    def __init__(self, world: World, account: Account, *, rng: random.Random, days: int,
                 log: LegitLog, address: str, starts_on_day: int = 0,
                 moves_on_day: int | None = None) -> None:
        self._world = world
        self._account = account
        self._rng = rng
        self._days = days
        self._log = log
        self._address = address
        self._starts = starts_on_day
        self._moves = moves_on_day
        self.profile: Profile = PROFILES.get(account.profession, PROFILES["pharmacy"])
        self._patients = _patients(rng, world.members, account.departement)
        self._regulars = self._patients[: max(3, len(self._patients) // 3)]
        self.agent = self._new_agent(address)

    def _new_agent(self, address: str) -> ApiAgent:
        return ApiAgent(self._world.app, self._world.clock, address=address,
                        client_id=self._account.client_id, secret=self._account.client_secret)

    def schedule(self, start: dt.datetime) -> list[dt.datetime]:
        """The moments of every check over the run, in order."""
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

    async def run(self, start: dt.datetime) -> AsyncIterator[dt.datetime]:
        account = f"honest-{self._account.account_id}"
        pending: list[tuple[dt.datetime, dict[str, Any]]] = []  # claims to send
        for moment in self.schedule(start):
            while pending and pending[0][0] <= moment:
                due, claim = pending.pop(0)
                yield due
                await self._claim(account, claim)
            yield moment
            day = (moment.date() - start.date()).days
            if self._moves is not None and day >= self._moves:
                await self.agent.close()
                self.agent = self._new_agent(self._address.rsplit(".", 1)[0] + ".200")
                self._moves = None
            person = self._pick()
            payload: dict[str, Any] = person.payload(category=self.profile.category,
                                                     care_date=moment.date())
            if self._rng.random() < TYPO_SHARE:
                wrong = dict(payload, birth_date=(person.birth_date + dt.timedelta(days=1))
                             .isoformat())
                answer = await self.agent.check(wrong)
                self._log.answer(account=account, status=answer.status_code,
                                 covered=disclosed(answer))
                yield moment + dt.timedelta(seconds=60)
            answer = await self.agent.check(payload)
            self._log.answer(account=account, status=answer.status_code,
                             covered=disclosed(answer))
            if disclosed(answer) and self._rng.random() < CLAIM_SHARE:
                due = moment + dt.timedelta(hours=self._rng.uniform(0.1, 47.9))
                pending.append((due, _claim_body(answer.json(), moment.date())))
                pending.sort(key=lambda item: item[0])
        for due, claim in pending:
            yield due
            await self._claim(account, claim)

    async def _claim(self, account: str, claim: dict[str, Any]) -> None:
        answer = await self.agent.claim(claim)
        self._log.claim(account=account, status=answer.status_code)

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
        await self.agent.close()
