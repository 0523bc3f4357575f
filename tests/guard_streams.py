"""Synthetic event streams for the guard's tests: seeded honest practices and attackers.

A small discrete-event simulation on a ManualClock. Honest practices open and close,
see mostly local, mostly recurring patients, mistype now and then and retry, claim
nearly every covered check within two days, step up when asked (they hold their
passkey) and count every friction they meet. Attackers read identities from a leaked
list (in the population or not), back off when slowed down, and give up a session
they cannot step up.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from rempart.clock import ManualClock
from rempart.core.care import Profession
from rempart.guard import (
    Action,
    CheckContext,
    Decision,
    Guard,
    GuardSettings,
    LookupOutcome,
    MemoryAlertSink,
    SizeClass,
    StepUpFactor,
    build_guard,
)
from rempart.guard.geo import centroids, distance_km

START = dt.datetime(2025, 3, 3, 0, 0, tzinfo=dt.UTC)  # a Monday
DEPARTEMENTS = sorted(d for d in centroids() if len(d) == 2)
IDLE_S = 1800.0


def near_departements(code: str, km: float = 120.0) -> list[str]:
    return [d for d in DEPARTEMENTS if (distance_km(code, d) or 1e9) <= km]


class World:
    """The clock, the guard and a queue of timed actions."""

    def __init__(self, guard: Guard | None = None, *, clock: ManualClock | None = None,
                 settings: GuardSettings | None = None) -> None:
        self.clock = clock or ManualClock(START)
        self.alerts = MemoryAlertSink()
        self.guard = guard or build_guard(settings or GuardSettings(), clock=self.clock,
                                          alerts=self.alerts)
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def at(self, ts: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (ts, next(self._seq), action))

    def run(self, until: float | None = None) -> None:
        while self._queue and (until is None or self._queue[0][0] <= until):
            ts, _, action = heapq.heappop(self._queue)
            now = self.clock.now().timestamp()
            if ts > now:
                self.clock.advance(ts - now)
            action()

    def ts(self, days: float = 0.0, hours: float = 0.0) -> float:
        return START.timestamp() + days * 86400 + hours * 3600


@dataclass
class Identity:
    key: str
    departement: str
    in_population: bool = True


@dataclass
class Actor:
    """Who makes checks: ids, where from, and what happened to its checks."""

    world: World
    account_id: str
    organisation_id: str
    profession: Profession
    size: SizeClass
    departement: str
    address: str
    device: str
    session_no: int = 0
    last_active: float = float("-inf")
    decisions: list[Action] = field(default_factory=list)
    disclosed: set[str] = field(default_factory=set)
    checks: int = 0

    @property
    def session_id(self) -> str:
        return f"{self.account_id}:{self.device}:{self.session_no}"

    @property
    def friction(self) -> int:
        return sum(1 for a in self.decisions if a is not Action.ALLOW)

    def context(self) -> CheckContext:
        return CheckContext(account_id=self.account_id, organisation_id=self.organisation_id,
                            session_id=self.session_id, profession=self.profession,
                            size_class=self.size, departement=self.departement,
                            address=self.address, device_id=self.device,
                            at=self.world.clock.now())

    def login_if_idle(self) -> bool:
        """Sessions end after 30 min idle (the auth layer's rule): log in again. False if
        this actor cannot."""
        now = self.world.clock.now().timestamp()
        if now - self.last_active > IDLE_S and not self.relogin():
            return False
        self.last_active = now
        return True

    def relogin(self) -> bool:
        self.session_no += 1
        return True

    def check(self, identity: Identity, *, near_miss: bool = False,
              wrong: bool = False) -> tuple[Decision, bool]:
        """One check; (the decision that counted, whether the record matched)."""
        guard = self.world.guard
        ctx = self.context()
        self.checks += 1
        decision = guard.before_check(ctx)
        self.decisions.append(decision.action)
        if not decision.discloses:
            return decision, False
        matched = identity.in_population and not near_miss and not wrong
        ref = f"ref-{self.account_id}-{self.checks}"
        outcome = LookupOutcome(
            matched=matched, person_key=identity.key if (matched or near_miss) else None,
            departement=identity.departement if matched else None, near_miss=near_miss,
            covered=matched, check_reference=ref if matched else None)
        decision = guard.after_lookup(ctx, outcome)
        self.decisions.append(decision.action)
        if decision.discloses and matched:
            self.disclosed.add(identity.key)
        return decision, matched


@dataclass
class PracticeProfile:
    """Parameters of an honest practice; `draw` varies them from a seed."""

    profession: Profession = Profession.PHARMACY
    size: SizeClass = SizeClass.SMALL
    checks_per_day: float = 180.0
    days: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    opens: float = 8.5
    closes: float = 19.5
    recurring_share: float = 0.7
    patients: int = 2500
    local_share: float = 0.93
    typo_rate: float = 0.03
    near_miss_rate: float = 0.01
    claim_rate: float = 0.96
    busy_day_rate: float = 0.1
    # Claims sent this many hours after the check (low, high), if set: a practice that
    # bills in batches, so that nothing is confirmed by a claim for a day or more.
    claim_delay_h: tuple[float, float] | None = None

    @classmethod
    def draw(cls, rng: random.Random, profession: Profession) -> PracticeProfile:
        if profession is Profession.PHARMACY:
            # 450-530 visits per opening day, a third to a half of them need a check.
            per_day = rng.uniform(450, 530) * rng.uniform(0.3, 0.5)
            return cls(profession, rng.choice([SizeClass.SMALL, SizeClass.MEDIUM]), per_day,
                       (0, 1, 2, 3, 4, 5), rng.uniform(8.0, 9.0), rng.uniform(19.0, 20.0),
                       rng.uniform(0.6, 0.8), rng.randint(1500, 4000))
        if profession is Profession.OPTICIAN:
            return cls(profession, SizeClass.SOLO, rng.uniform(4, 25), (1, 2, 3, 4, 5),
                       rng.uniform(9.0, 10.0), rng.uniform(18.5, 19.5), rng.uniform(0.2, 0.5),
                       rng.randint(300, 900))
        if profession is Profession.DENTIST:
            return cls(profession, SizeClass.SMALL, rng.uniform(8, 25), (0, 1, 2, 3, 4),
                       rng.uniform(8.0, 9.0), rng.uniform(18.0, 19.5), rng.uniform(0.6, 0.8),
                       rng.randint(500, 1500))
        if profession is Profession.HOSPITAL:
            return cls(profession, SizeClass.LARGE, rng.uniform(150, 400), tuple(range(7)),
                       7.0, 21.0, rng.uniform(0.1, 0.3), 20000, local_share=0.85)
        raise ValueError(f"no honest profile for {profession}")


class HonestPractice(Actor):
    """An honest account working through its days; steps up when asked."""

    def __init__(self, world: World, rng: random.Random, number: int,
                 profile: PracticeProfile, *, new_device_day: int | None = None) -> None:
        departement = rng.choice(DEPARTEMENTS)
        super().__init__(world, f"acct{number}", f"org{number}", profile.profession,
                         profile.size, departement,
                         f"203.0.{number % 250}.{rng.randint(1, 250)}", f"dev{number}")
        self.rng = rng
        self.profile = profile
        self.new_device_day = new_device_day
        near = near_departements(departement)
        self.pool = [Identity(f"p{number}-{i}", departement if rng.random() < 0.7
                              else rng.choice(near)) for i in range(profile.patients)]
        self.near = near
        self.fresh = itertools.count()

    def schedule(self, days: int, *, first: int = 0) -> None:
        """Visits from day `first` (a practice new to the platform then) to `days`."""
        p = self.profile
        for day in range(first, days):
            weekday = (START + dt.timedelta(days=day)).weekday()
            if weekday not in p.days:
                continue
            if self.new_device_day is not None and day == self.new_device_day:
                self.device = f"{self.device}-new"
            volume = p.checks_per_day * (self.rng.uniform(1.5, 2.0)
                                         if self.rng.random() < p.busy_day_rate else 1.0)
            # Paris is UTC+1 in March: local opening hours minus one.
            opens = self.world.ts(day, p.opens - 1)
            closes = self.world.ts(day, p.closes - 1)
            count = max(1, round(self.rng.gauss(volume, volume ** 0.5)))
            for t in sorted(self.rng.uniform(opens, closes) for _ in range(count)):
                self.world.at(t, self._visit)

    def _patient(self) -> Identity:
        p = self.profile
        if self.rng.random() < p.recurring_share:
            # Regulars: a tenth of them make half the visits (monthly renewals).
            regulars = max(1, len(self.pool) // 10)
            return self.pool[self.rng.randrange(regulars) if self.rng.random() < 0.5
                             else self.rng.randrange(len(self.pool))]
        if self.rng.random() < p.local_share:
            departement = self.departement if self.rng.random() < 0.75 else self.rng.choice(
                self.near)
        else:
            departement = self.rng.choice(DEPARTEMENTS)
        return Identity(f"n{self.account_id}-{next(self.fresh)}", departement)

    def _visit(self, identity: Identity | None = None, attempt: int = 0) -> None:
        identity = identity or self._patient()
        p = self.profile
        self.login_if_idle()
        roll = self.rng.random()
        typo = attempt == 0 and roll < p.typo_rate
        near = attempt == 0 and p.typo_rate <= roll < p.typo_rate + p.near_miss_rate
        decision, matched = self.check(identity, wrong=typo, near_miss=near)
        now = self.world.clock.now().timestamp()
        if attempt >= 3 and not decision.discloses:
            return  # the patient pays upfront this time; the friction is counted
        if decision.action is Action.STEP_UP:
            self.world.guard.on_step_up(session_id=self.session_id, factor=StepUpFactor.PASSKEY)
            self.world.at(now + 30, lambda: self._visit(identity, attempt + 1))
        elif decision.action is Action.SLOW_DOWN:
            self.world.at(now + decision.delay_s, lambda: self._visit(identity, attempt + 1))
        elif decision.action is Action.SUSPEND_SESSION:
            self.session_no += 1
            self.world.at(now + 600, lambda: self._visit(identity, attempt + 1))
        elif decision.action is Action.SUSPEND_ACCOUNT:
            return  # the practice calls the operator; its checks wait for the restore
        elif (typo or near) and attempt < 3:
            self.world.at(now + self.rng.uniform(15, 90), lambda: self._visit(identity, 1))
        elif matched and self.rng.random() < p.claim_rate:
            ref = f"ref-{self.account_id}-{self.checks}"
            delay = self.rng.uniform(60, 1800) if self.rng.random() < 0.8 else \
                self.rng.uniform(3600, 40 * 3600)
            if p.claim_delay_h is not None:
                delay = 3600.0 * self.rng.uniform(*p.claim_delay_h)
            self.world.at(now + delay,
                          lambda: self.world.guard.on_claim(check_reference=ref))


class LeakedList:
    """The attacker's identities: some in the population, spread over France."""

    def __init__(self, rng: random.Random, *, in_population: float = 0.7,
                 local_to: str | None = None, local_share: float = 0.0) -> None:
        self.rng = rng
        self.in_population = in_population
        self.near = near_departements(local_to) if local_to else []
        self.local_share = local_share
        self.counter = itertools.count()

    def next(self) -> Identity:
        rng = self.rng
        departement = (rng.choice(self.near) if self.near and rng.random() < self.local_share
                       else rng.choice(DEPARTEMENTS))
        return Identity(f"leak-{next(self.counter)}", departement,
                        in_population=rng.random() < self.in_population)


class Attacker(Actor):
    """Reads identities through a hijacked account at `per_hour`, within `hours` (local),
    backing off when slowed down; opens a new session up to `relogins` times when one
    is stepped up or suspended, or has expired (it cannot pass a step-up)."""

    def __init__(self, world: World, victim: Actor, rng: random.Random, leaks: LeakedList, *,
                 per_hour: float, jitter: float = 1.0, hours: tuple[float, float] | None = None,
                 same_device: bool = False, same_network: bool = False, relogins: int = 0,
                 address: str | None = None) -> None:
        super().__init__(world, victim.account_id, victim.organisation_id, victim.profession,
                         victim.size, victim.departement,
                         victim.address if same_network else (address or
                                                              f"198.51.{rng.randint(0, 255)}.7"),
                         victim.device if same_device else f"evil-{rng.randint(0, 10**6)}")
        self.rng = rng
        self.leaks = leaks
        self.per_hour = per_hour
        self.jitter = jitter
        self.hours = hours
        self.relogins = relogins
        self.session_no = 1000
        self.stopped = False
        self.until = 0.0

    def start(self, ts: float, until: float) -> None:
        self.until = until
        self.last_active = ts  # it starts inside a fresh (hijacked) session
        self.world.at(ts, self._next)

    def relogin(self) -> bool:
        if self.relogins <= 0:
            return False
        self.relogins -= 1
        self.session_no += 1
        self.last_active = self.world.clock.now().timestamp()
        return True

    def _gap(self) -> float:
        mean = 3600.0 / self.per_hour
        return mean * (1.0 + self.jitter * (self.rng.random() - 0.5))

    def _next(self, identity: Identity | None = None) -> None:
        now = self.world.clock.now().timestamp()
        if self.stopped or now > self.until:
            return
        if self.hours is not None:
            local = (now / 3600.0 + 1.0) % 24.0  # Paris in March
            weekday = (START + dt.timedelta(seconds=now - START.timestamp())).weekday()
            if not self.hours[0] <= local < self.hours[1] or weekday == 6:
                self.world.at(now + 900, self._next)
                return
        identity = identity or self.leaks.next()
        if not self.login_if_idle():
            self.stopped = True
            return
        decision, _ = self.check(identity)
        if decision.action is Action.SLOW_DOWN:
            self.world.at(now + decision.delay_s, lambda: self._next(identity))
        elif decision.action >= Action.STEP_UP:
            if not self.relogin():
                self.stopped = True
                return
            self.world.at(now + 3600, self._next)
        else:
            self.world.at(now + self._gap(), self._next)


class Prober(Attacker):
    """Knows NIRs, guesses dates of birth: most guesses nearly match."""

    def __init__(self, *args: object, guesses_per_person: int = 5, hit_rate: float = 0.02,
                 **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.guesses = guesses_per_person
        self.hit_rate = hit_rate
        self.target: Identity | None = None
        self.tries = 0

    def check(self, identity: Identity, *, near_miss: bool = False,
              wrong: bool = False) -> tuple[Decision, bool]:
        if self.target is None or self.tries >= self.guesses:
            self.target, self.tries = identity, 0
        self.tries += 1
        hit = self.rng.random() < self.hit_rate
        decision, matched = super().check(self.target, near_miss=not hit)
        if matched:
            self.target = None
        return decision, matched
