"""The watch over a listed shared network inside the guard, on simulated days of checks
(tests/guard_streams.py): a hosted practice-software network of 30-50 practices, listed;
then, on its third day, either 25-40 honest practices onboarding onto it at once, or
hijacked accounts of 12-20 organisations that never worked from it read through it
(the attack the listing helps: each of them is scoped apart). Both raise the alert; the
alert changes no decision (the same decisions with the watch taken out), so the honest
onboarding is contained no more than without it."""

from __future__ import annotations

import dataclasses
import random

import pytest

from guard_fixtures import redis_guard_settings  # noqa: F401  (fixture)
from guard_streams import Attacker, HonestPractice, LeakedList, PracticeProfile, World
from rempart.core.care import Profession
from rempart.guard import Action, GuardSettings
from rempart.guard.netwatch import NOVELTY
from rempart.guard.shared import parse_entries

MIX = [Profession.PHARMACY, Profession.OPTICIAN, Profession.DENTIST, Profession.PHARMACY,
       Profession.HOSPITAL]
HOSTED = parse_entries({"network": [{"label": "hosted", "cidrs": ["192.0.2.0/24"]}]})
DAYS = 4
SURGE_DAY = 2


def _practices(world: World, rng: random.Random, count: int, first_number: int, *,
               address: str | None, first_day: int = 0) -> list[HonestPractice]:
    """`address`: a prefix inside the listed network (each practice its address there),
    or None (each its own, elsewhere)."""
    out = []
    for n in range(count):
        number = first_number + n
        practice = HonestPractice(world, random.Random(rng.random()), number,
                                  PracticeProfile.draw(rng, MIX[number % len(MIX)]))
        if address is not None:
            practice.address = f"{address}{n + 1}"
        practice.schedule(DAYS, first=first_day)
        out.append(practice)
    return out


def _onboarding(seed: int, settings: GuardSettings, *, watched: bool = True,
                ) -> tuple[World, list[HonestPractice], float]:
    world = World(settings=settings)
    if not watched:
        world.guard.network_watch = None
    rng = random.Random(seed)
    practices = _practices(world, rng, rng.randint(30, 50), 0, address="192.0.2.")
    practices += _practices(world, rng, rng.randint(25, 40), 100, address="192.0.2.1",
                            first_day=SURGE_DAY)
    world.run()
    return world, practices, world.ts(SURGE_DAY)


def _attack(seed: int, settings: GuardSettings, *, until_hour: float | None = None,
            ) -> tuple[World, list[HonestPractice], list[Attacker], float]:
    """`until_hour`: stop the run at that hour (UTC) of the attack's day."""
    world = World(settings=settings)
    rng = random.Random(seed)
    hosted = _practices(world, rng, rng.randint(30, 50), 0, address="192.0.2.")
    elsewhere = _practices(world, rng, rng.randint(12, 20), 100, address=None)
    per_hour = rng.choice([40.0, 60.0, 120.0])
    start = world.ts(SURGE_DAY, 7.5 + rng.uniform(0.0, 2.0))
    attackers = []
    for n, victim in enumerate(elsewhere):
        leaks = LeakedList(random.Random(rng.random()), local_to=victim.departement,
                           local_share=rng.choice([0.0, 0.3]))
        attacker = Attacker(world, victim, random.Random(rng.random()), leaks,
                            per_hour=per_hour, address=f"192.0.2.{200 + n}")
        attacker.start(start + rng.uniform(0.0, 1800.0), world.ts(SURGE_DAY + 1))
        attackers.append(attacker)
    world.run(None if until_hour is None else world.ts(SURGE_DAY, until_hour))
    return world, [*hosted, *elsewhere], attackers, start


def _contained(practices: list[HonestPractice]) -> list[HonestPractice]:
    return [p for p in practices if any(d >= Action.SUSPEND_SESSION for d in p.decisions)]


@pytest.mark.parametrize("seed", [0, 2])
def test_an_honest_onboarding_raises_the_alert_and_changes_no_decision(seed: int) -> None:
    world, practices, surge = _onboarding(seed, GuardSettings(shared_networks=HOSTED))
    alerts = world.alerts.network_alerts
    _, unwatched, _ = _onboarding(seed, GuardSettings(shared_networks=HOSTED), watched=False)
    friction = [p for p in practices if p.friction]
    print(f"seed {seed}: {len(practices)} practices, alerts at "
          f"{[round((a.at.timestamp() - surge) / 3600, 2) for a in alerts]} h of day "
          f"{SURGE_DAY} ({[a.new for a in alerts]} new); {len(friction)} with friction, "
          f"{len(_contained(practices))} contained")
    assert [a.kind for a in alerts] == [NOVELTY]
    # Not before the newcomers came, and on their first morning.
    assert all(surge <= a.at.timestamp() < surge + 86400 for a in alerts)
    assert [p.decisions for p in practices] == [p.decisions for p in unwatched]
    assert _contained(practices) == []


@pytest.mark.parametrize("seed", [3, 5, 6])
def test_hijacked_accounts_of_other_organisations_read_through_the_network(
        seed: int) -> None:
    """The attackers' organisations never worked from the listed network: the alert
    comes within the hour after the attack starts. (The attackers are held by the
    per-account evidence as before; the alert is for a human.)"""
    world, practices, attackers, start = _attack(seed, GuardSettings(shared_networks=HOSTED))
    alerts = [a for a in world.alerts.network_alerts if a.kind == NOVELTY]
    read = sum(len(a.disclosed) for a in attackers)
    after = [round((a.at.timestamp() - start) / 60) for a in alerts]
    print(f"seed {seed}: {len(attackers)} accounts, alerts {after} min after the attack "
          f"started ({[a.new for a in alerts]} new), {read} records read in all "
          f"({read / len(attackers):.2f} per account)")
    assert len(alerts) == 1
    assert start < alerts[0].at.timestamp() <= start + 3600
    assert _contained([p for p in practices if p.account_id not in
                       {a.account_id for a in attackers}]) == []


def test_the_attack_through_the_network_on_redis(
        redis_guard_settings: GuardSettings) -> None:  # noqa: F811
    """The same on the Redis backend (the ledger every worker shares), until the
    attack's first hours (CI's time)."""
    settings = dataclasses.replace(redis_guard_settings, shared_networks=HOSTED)
    world, _, _, start = _attack(3, settings, until_hour=11.0)
    memory, _, _, _ = _attack(3, GuardSettings(shared_networks=HOSTED), until_hour=11.0)
    alerts = [a for a in world.alerts.network_alerts if a.kind == NOVELTY]
    assert alerts
    assert start < alerts[0].at.timestamp() <= start + 3600
    assert ([(a.kind, a.at, a.new) for a in world.alerts.network_alerts]
            == [(a.kind, a.at, a.new) for a in memory.alerts.network_alerts])
