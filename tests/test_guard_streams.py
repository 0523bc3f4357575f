"""Synthetic streams against the guard: seeded honest populations almost never meet
friction, and varied attackers are contained within a handful of records.

The parameters of every actor are drawn from its seed (guard_streams.py); the
attackers' pace, hours, device and network reuse and imitation of the victim's
locality vary across cases. Counts are printed, so a run shows its margins.
"""

from __future__ import annotations

import random

import pytest

from guard_streams import (
    Attacker,
    HonestPractice,
    LeakedList,
    PracticeProfile,
    Prober,
    World,
)
from rempart.core.care import Profession
from rempart.guard import Action

MIX = [Profession.PHARMACY, Profession.OPTICIAN, Profession.DENTIST, Profession.PHARMACY,
       Profession.OPTICIAN, Profession.DENTIST, Profession.HOSPITAL]


def population(world: World, rng: random.Random, count: int, days: int, *,
               first: int = 0) -> list[HonestPractice]:
    practices = []
    for i in range(count):
        profession = MIX[i % len(MIX)]
        practice = HonestPractice(
            world, random.Random(rng.random()), first + i, PracticeProfile.draw(rng, profession),
            # Some move to a new device mid-run.
            new_device_day=rng.randint(1, days - 1) if i % 4 == 0 else None)
        practice.schedule(days)
        practices.append(practice)
    return practices


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_honest_practices_almost_never_meet_friction(seed: int) -> None:
    world = World()
    rng = random.Random(seed)
    practices = population(world, rng, 14, 6)
    # A new practice opening mid-run: a cold start is not an attack.
    newcomer = HonestPractice(world, random.Random(rng.random()), 99,
                              PracticeProfile.draw(rng, Profession.PHARMACY))
    newcomer.schedule(3)
    practices.append(newcomer)
    world.run()
    checks = sum(p.checks for p in practices)
    with_friction = [p for p in practices if p.friction]
    suspended = [p for p in practices if any(a >= Action.SUSPEND_SESSION for a in p.decisions)]
    print(f"seed {seed}: {len(practices)} honest accounts, {checks} checks, "
          f"{len(with_friction)} met friction, {len(suspended)} suspended")
    assert not suspended
    assert len(with_friction) <= 1
    assert newcomer.friction == 0


@pytest.mark.parametrize(("seed", "per_hour", "same_device", "same_network"), [
    (0, 3600, False, False),    # replayed from elsewhere, as fast as it can
    (1, 1800, True, False),     # the victim's device cookie, another network
    (2, 720, True, True),       # through the victim's own device and network (worst case)
    (3, 240, True, True),
])
def test_a_hijacked_session_is_contained_within_seconds(
        seed: int, per_hour: float, same_device: bool, same_network: bool) -> None:
    world = World()
    rng = random.Random(seed)
    victim = population(world, rng, 1, 3)[0]
    attacker = Attacker(world, victim, random.Random(seed + 100), LeakedList(rng),
                        per_hour=per_hour, same_device=same_device, same_network=same_network)
    start = world.ts(2, 10)
    attacker.start(start, world.ts(3))
    contained = []
    original = attacker.check

    def watch(identity, **kwargs):  # type: ignore[no-untyped-def]
        decision, matched = original(identity, **kwargs)
        if decision.action >= Action.STEP_UP and not contained:
            contained.append(world.clock.now().timestamp() - start)
        return decision, matched

    attacker.check = watch  # type: ignore[method-assign]
    world.run()
    print(f"seed {seed} at {per_hour}/h: {len(attacker.disclosed)} records, "
          f"contained after {contained[0] if contained else None} s")
    assert len(attacker.disclosed) <= 20
    assert contained
    assert contained[0] <= 60 or per_hour < 360  # slower ones: within their 20th check


@pytest.mark.parametrize(("seed", "pace", "locality", "jitter"), [
    (0, 0.3, 0.0, 1.0),
    (1, 0.5, 0.6, 1.0),
    (2, 0.2, 0.8, 1.9),   # nearly human timing, mostly local identities
    (3, 0.4, 0.3, 0.4),
])
def test_low_and_slow_inside_the_victims_hours_is_contained(
        seed: int, pace: float, locality: float, jitter: float) -> None:
    """An attacker holding the password (not the passkey) reads at a fraction of the
    victim's own pace, in its opening hours, for days, logging in again and again."""
    world = World()
    rng = random.Random(seed)
    victim = HonestPractice(world, random.Random(rng.random()), 1,
                            PracticeProfile.draw(rng, Profession.PHARMACY))
    days = 7
    victim.schedule(days)
    per_hour = pace * victim.profile.checks_per_day / 11
    leaks = LeakedList(random.Random(seed + 7), local_to=victim.departement,
                       local_share=locality)
    attacker = Attacker(world, victim, random.Random(seed + 100), leaks, per_hour=per_hour,
                        jitter=jitter, hours=(9.0, 19.0), relogins=60)
    attacker.start(world.ts(3, 9), world.ts(days))
    world.run()
    print(f"seed {seed}: {per_hour:.1f}/h, locality {locality}: "
          f"{len(attacker.disclosed)} records in {attacker.checks} attempts")
    assert len(attacker.disclosed) <= 50


@pytest.mark.parametrize("seed", [0, 1])
def test_probing_with_guessed_dates_of_birth_yields_almost_nothing(seed: int) -> None:
    world = World()
    rng = random.Random(seed)
    victim = population(world, rng, 1, 3)[0]
    prober = Prober(world, victim, random.Random(seed + 5), LeakedList(rng, in_population=1.0),
                    per_hour=120, relogins=20, guesses_per_person=rng.randint(2, 8),
                    hit_rate=0.05)
    prober.start(world.ts(1, 10), world.ts(3))
    world.run()
    print(f"seed {seed}: {len(prober.disclosed)} records in {prober.checks} attempts")
    assert len(prober.disclosed) <= 5


@pytest.mark.parametrize(("seed", "locality", "shared_block"), [
    (0, 0.0, False), (1, 0.6, False), (2, 0.0, True)])
def test_many_hijacked_accounts_each_slow_yield_a_few_records_each(
        seed: int, locality: float, shared_block: bool) -> None:
    world = World()
    rng = random.Random(seed)
    # Opticians and dentists: the low-volume practices where few checks say the least.
    victims = [HonestPractice(world, random.Random(rng.random()), i, PracticeProfile.draw(
        rng, [Profession.OPTICIAN, Profession.DENTIST][i % 2])) for i in range(24)]
    days, start = 9, 7
    for victim in victims:
        victim.schedule(days)
    attackers = []
    for i, victim in enumerate(victims):
        address = f"198.51.100.{i + 1}" if shared_block else f"10.{i}.{rng.randint(0, 255)}.7"
        leaks = LeakedList(random.Random(rng.random()), local_to=victim.departement,
                           local_share=locality)
        attacker = Attacker(world, victim, random.Random(rng.random()), leaks, per_hour=4,
                            hours=(9.0, 19.0), relogins=20, address=address)
        attacker.start(world.ts(start, 8 + 3 * rng.random()), world.ts(days))
        attackers.append(attacker)
    world.run()
    records = [len(a.disclosed) for a in attackers]
    print(f"seed {seed}: {sum(records) / len(records):.2f} records per account "
          f"(max {max(records)}), {sum(a.checks for a in attackers)} attempts")
    assert sum(records) / len(records) <= 3


@pytest.mark.parametrize("seed", range(6))
def test_attackers_drawn_at_random_are_contained(seed: int) -> None:
    """Parameters none of the cases above use: every knob of the attacker drawn from a
    seed, against a victim of any profession, after a week of its honest history."""
    world = World()
    rng = random.Random(1000 + seed)
    victim = HonestPractice(world, random.Random(rng.random()), 1, PracticeProfile.draw(
        rng, rng.choice([Profession.PHARMACY, Profession.OPTICIAN, Profession.DENTIST,
                         Profession.HOSPITAL])))
    days = 9
    victim.schedule(days)
    knobs = {"per_hour": rng.choice([2.0, 6.0, 20.0, 60.0, 600.0]),
             "jitter": rng.uniform(0.2, 1.9),
             "hours": rng.choice([None, (9.0, 19.0)]),
             "same_device": rng.random() < 0.5, "same_network": rng.random() < 0.3,
             "relogins": rng.choice([0, 5, 40])}
    leaks = LeakedList(random.Random(rng.random()), in_population=rng.uniform(0.5, 0.95),
                       local_to=victim.departement, local_share=rng.uniform(0.0, 0.9))
    attacker = Attacker(world, victim, random.Random(rng.random()), leaks, **knobs)
    attacker.start(world.ts(7, rng.uniform(7, 12)), world.ts(days))
    world.run()
    print(f"seed {seed}: {victim.profession.value} victim, {knobs}, local "
          f"{leaks.local_share:.1f}: {len(attacker.disclosed)} records in "
          f"{attacker.checks} attempts")
    assert len(attacker.disclosed) <= 50
