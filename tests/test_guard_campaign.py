"""A campaign over many hijacked accounts at once, on their first morning (no history of
their own to compare with: the guard's hardest case, drill scenario S5), beside honest
practices: the platform-level evidence (rempart.guard.campaign) must hold each account
to a couple of records without touching the honest practices. Numbers of accounts,
paces, start times, localities and networks vary with the seed."""

from __future__ import annotations

import random

import pytest

from guard_streams import Attacker, HonestPractice, LeakedList, PracticeProfile, World
from rempart.core.care import Profession
from rempart.guard import Action

MIX = [Profession.PHARMACY, Profession.OPTICIAN, Profession.DENTIST, Profession.PHARMACY,
       Profession.HOSPITAL]


def _campaign(seed: int, *, attack_block: bool, honest_block: bool,
              ) -> tuple[list[HonestPractice], list[Attacker]]:
    world = World()
    rng = random.Random(seed)
    practices = []
    for i in range(rng.randint(30, 50)):
        practice = HonestPractice(world, random.Random(rng.random()), i,
                                  PracticeProfile.draw(rng, MIX[i % len(MIX)]))
        if honest_block:  # hosted practice software: every practice from one network
            practice.address = f"192.0.2.{i + 1}"
        practice.schedule(2)
        practices.append(practice)
    victims = rng.sample(practices, rng.randint(8, 20))
    per_hour = rng.choice([40.0, 60.0, 120.0])
    locality = rng.choice([0.0, 0.3])
    attackers = []
    for n, victim in enumerate(victims):
        leaks = LeakedList(random.Random(rng.random()), local_to=victim.departement,
                           local_share=locality)
        address = f"198.51.100.{n + 1}" if attack_block else f"10.{n}.{rng.randint(0, 255)}.9"
        attacker = Attacker(world, victim, random.Random(rng.random()), leaks,
                            per_hour=per_hour, address=address)
        # The first morning, before or after the practice's own first check.
        attacker.start(world.ts(0, 7.5 + rng.uniform(-0.5, 1.5)), world.ts(1))
        attackers.append(attacker)
    world.run()
    return practices, attackers


@pytest.mark.parametrize("seed", [0, 5, 6, 7])
def test_a_campaign_from_one_network_on_accounts_without_history(seed: int) -> None:
    practices, attackers = _campaign(seed, attack_block=True, honest_block=False)
    records = [len(a.disclosed) for a in attackers]
    victims = {a.account_id for a in attackers}
    bystanders = [p for p in practices if p.account_id not in victims]
    friction = [p for p in bystanders if p.friction]
    suspended = [p for p in practices if any(d >= Action.SUSPEND_SESSION for d in p.decisions)]
    print(f"seed {seed}: {len(attackers)} accounts, {sum(records) / len(records):.2f} records "
          f"per account (max {max(records)}), {sum(a.checks for a in attackers)} attempts; "
          f"honest: {len(practices)} practices, {len(friction)} bystanders met friction, "
          f"{len(suspended)} suspended")
    assert not suspended
    assert not friction
    assert sum(records) / len(records) <= 2.0
