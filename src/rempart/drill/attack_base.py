"""What every attacker shares: its seeded randomness, its identity list (people from the
synthetic files and people who are not in them), its addresses and its ground-truth log."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

import httpx

from rempart.drill.options import DrillOptions
from rempart.drill.scoring import AttackLog
from rempart.drill.truth import Person
from rempart.drill.world import Account, World

PORTAL_BOUNCE = frozenset({302, 303, 307})


@dataclass
class AttackContext:
    world: World
    rng: random.Random
    victims: list[Account]  # accounts whose credentials the attacker holds (some part)
    start: dt.datetime
    log: AttackLog
    # The run's options, for the attacks whose scale they set (S5).
    options: DrillOptions = field(default_factory=lambda: DrillOptions(scenarios=()))

    def identities(self, count: int) -> list[Person]:
        """A scraper's target list: mostly real people, a fifth not in any file."""
        real = self.rng.sample(self.world.members, k=min(count, len(self.world.members)))
        fake = self.rng.sample(self.world.outsiders,
                               k=min(len(self.world.outsiders), max(1, count // 5)))
        mixed = real + fake
        self.rng.shuffle(mixed)
        return mixed[:count]

    @property
    def origin(self) -> str:
        return self.world.endpoint.base_url

    def address(self, n: int) -> str:
        return self.remember(f"203.0.{113 + n // 250 % 10}.{n % 250 + 1}")

    def remember(self, address: str) -> str:
        """Note one of the attacker's addresses in the ground truth (alerts about it
        count as detection)."""
        self.log.addresses.add(address)
        return address

    def record(self, answer: httpx.Response, *, person: Person | None, account: str | None,
               disclosed: bool) -> int:
        """Log one answer; a portal bounce to the login or second-factor page is a refusal."""
        status = 401 if answer.status_code in PORTAL_BOUNCE else answer.status_code
        now = self.world.clock.now()
        self.log.request(at=now, account=account)
        self.log.outcome(at=now, person=person.key if person else None, status=status,
                         disclosed=disclosed)
        return status


def retry_after(answer: httpx.Response, default: float = 60.0) -> float:
    try:
        return max(1.0, float(answer.headers.get("retry-after", default)))
    except ValueError:
        return default


def in_hours(moment: dt.datetime, opens_h: float, closes_h: float) -> dt.datetime:
    """The same moment if within opening hours, else the next opening."""
    hour = moment.hour + moment.minute / 60
    if opens_h <= hour < closes_h:
        return moment
    day = moment.date() + dt.timedelta(days=1 if hour >= closes_h else 0)
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) + dt.timedelta(hours=opens_h)
