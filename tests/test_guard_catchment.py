"""The cold start: an honest practice whose patients live far away, on the platform's
first morning, while stolen accounts are read from a national list (drill scenario S5
with `--warmup-days 0`). Every account is young then (no device or network of its own),
so owner and thief cannot be told apart by origin, and `campaign.young` goes to the
young sessions whose own patients live far away. What tells them apart is where those
patients live: a practice's far-away patients come from a few places again and again
(its catchment), a list reader's from all over the country (rempart.guard.campaign,
`list_like`). Numbers of practices and thieves, paces, start times and the desk's
catchment vary with the seed."""

from __future__ import annotations

import dataclasses
import random

import pytest

from guard_streams import (
    DEPARTEMENTS,
    Actor,
    Attacker,
    HonestPractice,
    Identity,
    LeakedList,
    PracticeProfile,
    World,
)
from rempart.core.care import Profession
from rempart.guard import Action, SizeClass
from rempart.guard.campaign import CATCHMENT_BITS, catchment_bits, list_like, note_place
from test_guard_young import _platform, _schedule

OVERSEAS = ["971", "972", "973", "974", "976"]


class FarAwayDesk(HonestPractice):
    """A hospital admissions desk whose patients nearly all live over 200 km away, in a
    few départements (an overseas hospital's visitors and transfers, as the drill's desk
    in Guyane), one in `anywhere` from anywhere in France."""

    def __init__(self, world: World, rng: random.Random, number: int, *, home: str,
                 catchment: list[str], anywhere: float) -> None:
        # The drill's desk: 100-300 visits a day, 30 % of them checked, each claim
        # 0.1-48 h after its check.
        profile = dataclasses.replace(PracticeProfile.draw(rng, Profession.HOSPITAL),
                                      checks_per_day=rng.uniform(30, 90), opens=10.0,
                                      claim_delay_h=(0.1, 47.9))
        super().__init__(world, rng, number, profile)
        self.departement = home
        self.catchment = catchment
        self.anywhere = anywhere
        self.pool = [Identity(f"far{number}-{i}", rng.choice(catchment)) for i in range(3000)]

    def login_if_idle(self) -> bool:
        # Practice software on the API: one key, one session, for days.
        self.last_active = self.world.clock.now().timestamp()
        return True

    def _patient(self) -> Identity:
        if self.rng.random() < self.anywhere:
            return Identity(f"n{self.account_id}-{next(self.fresh)}",
                            self.rng.choice(DEPARTEMENTS))
        return self.rng.choice(self.pool)


def _cold_start(seed: int) -> tuple[FarAwayDesk, list[HonestPractice], list[Attacker]]:
    """The platform's first day: small practices from their opening (the desk's software
    at 09:00 UTC, one session all day: young until 13:00), and from 10:00-11:00 UTC
    thieves on most of them, each from a network of its own, one check every 5-10 min,
    reading a national list."""
    world = World()
    rng = random.Random(seed)
    # Claims a day or more later: nothing confirmed by one on the first morning.
    practices = _platform(rng, world, practices=rng.randint(40, 60), new=0, late_claims=True,
                          mix=[Profession.OPTICIAN, Profession.DENTIST, Profession.OPTICIAN,
                               Profession.DENTIST, Profession.PHARMACY])
    home = rng.choice(OVERSEAS)
    catchment = rng.sample([d for d in OVERSEAS if d != home] + ["75", "13", "33"],
                           rng.randint(2, 4))
    desk = FarAwayDesk(world, random.Random(rng.random()), 900, home=home,
                       catchment=catchment, anywhere=rng.choice([0.0, 0.05]))
    _schedule([*practices, desk], 2)
    victims = rng.sample(practices, rng.randint(25, 35))
    attackers = []
    for n, victim in enumerate(victims):
        leaks = LeakedList(random.Random(rng.random()))
        attacker = Attacker(world, victim, random.Random(rng.random()), leaks,
                            per_hour=rng.choice([6.0, 12.0]),
                            address=f"{11 + n}.{rng.randint(0, 255)}.{n}.9")
        attacker.start(world.ts(0, 10.0 + rng.uniform(0.0, 1.0)), world.ts(1))
        attackers.append(attacker)
    world.run()
    return desk, practices, attackers


@pytest.mark.parametrize("seed", [51, 52, 53])
def test_a_far_away_desk_on_the_first_morning_of_a_campaign(seed: int) -> None:
    """Varied worlds (the desk's home and catchment, how many practices and thieves, their
    pace): the desk meets no refusal, nor does any other honest practice, and the
    thieves are held to a few records each (2.2-2.5 when written; the same on main, where
    in these worlds the desk's own claims confirmed its network before the campaign's
    evidence reached it — the case laid out by hand below is the one main failed)."""
    desk, practices, attackers = _cold_start(seed)
    victims = {a.account_id for a in attackers}
    records = [len(a.disclosed) for a in attackers]
    per_account = sum(records) / len(records)
    bystanders = [p for p in practices if p.account_id not in victims and p.friction]
    print(f"seed {seed}: desk in {desk.departement}, patients from {desk.catchment}: "
          f"{desk.friction} refusals in {desk.checks} checks; {len(attackers)} thieves, "
          f"{per_account:.2f} records each (max {max(records)}); "
          f"{len(bystanders)} bystanders with friction")
    assert desk.checks > 50
    assert desk.friction == 0
    assert not bystanders
    assert not any(d >= Action.SUSPEND_SESSION for p in practices for d in p.decisions)
    assert per_account <= 3.0


def _actor(world: World, name: str, departement: str, address: str,
           profession: Profession = Profession.OPTICIAN) -> Actor:
    return Actor(world, name, f"org-{name}", profession, SizeClass.SOLO, departement,
                 address, f"dev-{name}")


def test_the_first_morning_in_one_hour() -> None:
    """The drill's cold start, laid out by hand: local practices from 08:00 (the young
    cohort's usual), an overseas hospital desk's software from 09:00 whose patients live
    in three far-away départements, and from 10:00 thieves on thirty young accounts, each
    from its own network, reading a national list. The thieves are asked for a second
    factor as before (the young cohort's excess and two far-away patients of their own);
    the desk is not (before this change it was, at its first check after the thieves'
    reads began: its far-away patients beside `campaign.young`)."""
    world = World()
    rng = random.Random(3)
    locals_ = [_actor(world, f"local{i}", DEPARTEMENTS[i], f"203.0.{i}.1") for i in range(40)]
    desk = _actor(world, "desk", "973", "192.0.2.10", Profession.HOSPITAL)
    desk.size = SizeClass.LARGE
    thieves = [_actor(world, f"victim{i}", DEPARTEMENTS[40 + i], f"{11 + i}.1.{i}.9")
               for i in range(30)]
    leaks = LeakedList(random.Random(4), in_population=1.0)
    catchment = ["971", "972", "33"]
    for i, local in enumerate(locals_):
        for k in range(16):  # 08:00-12:00, one patient every quarter of an hour
            person = Identity(f"l{i}-{k}", local.departement)
            world.at(world.ts(0, 8.0 + k / 4 + rng.uniform(0, 0.2)),
                     lambda a=local, p=person: a.check(p) and None)
    for k in range(36):  # 09:00-12:00, one patient every five minutes
        person = Identity(f"d-{k}", catchment[k % 3] if k % 7 else catchment[0])
        world.at(world.ts(0, 9.0 + (k + rng.random()) / 12),
                 lambda p=person: desk.check(p) and None)
    for thief in thieves:
        for k in range(12):  # from 10:00, one check every ten minutes
            world.at(world.ts(0, 10.0 + k / 6 + rng.uniform(0, 0.15)),
                     lambda a=thief: a.check(leaks.next()) and None)
    world.run()
    stepped = [t for t in thieves if Action.STEP_UP in t.decisions]
    records = sum(len(t.disclosed) for t in thieves) / len(thieves)
    print(f"desk: {desk.friction} refusals in {desk.checks} checks; thieves: "
          f"{len(stepped)} of {len(thieves)} stepped up, {records:.2f} records each")
    assert desk.checks == 36
    assert desk.friction == 0
    assert not any(local.friction for local in locals_)
    assert len(stepped) >= 25
    assert records <= 3.0


def test_two_far_away_patients_in_two_places_look_like_a_list() -> None:
    places = note_place(note_place((), "13"), "59")
    assert places == ("13", "59")
    assert list_like(2, places) == 2


def test_a_desk_whose_far_away_patients_keep_coming_from_a_few_places() -> None:
    places: tuple[str, ...] = ()
    visits = ["971", "972", "971", "64", "972", "972", "971", "64", "971", "972",
              "972", "971", "64", "971", "972", "971", "33", "972"]
    for departement in visits:
        places = note_place(places, departement)
    # Each place kept at most twice: enough to tell one visit from several.
    assert sorted(places) == ["33", "64", "64", "971", "971", "972", "972"]
    assert catchment_bits(len(visits), 4) >= CATCHMENT_BITS
    # Only the patient alone in its département may be a list's read.
    assert list_like(len(visits), places) == 1


def test_a_chance_repeat_among_a_few_list_reads_is_no_catchment() -> None:
    # Two of four people from one département happens to a list reader (about one
    # session in ten here): all four still count.
    places = ("13", "13", "16", "91")
    assert catchment_bits(4, 3) < CATCHMENT_BITS
    assert list_like(4, places) == 4


def test_a_session_spread_beyond_its_memory_counts_every_far_away_patient() -> None:
    places: tuple[str, ...] = ()
    for i in range(40):
        places = note_place(places, DEPARTEMENTS[i % 30])
    assert len(places) <= 24
    assert list_like(40, places) == 40


@pytest.mark.parametrize("weights", ["uniform", "skewed"])
def test_list_readers_are_rarely_taken_for_a_catchment(weights: str) -> None:
    """Sessions reading 2 to 12 far-away people from a national list: the share in which
    any far-away read is discounted stays under the bar's 1 in 256. "skewed" puts 5 % of
    the list in each of the four largest départements (more than any holds)."""
    rng = random.Random(7 if weights == "uniform" else 8)
    heavy = DEPARTEMENTS[:4]
    sessions = exempt = 0
    for _ in range(20000):
        reads = rng.randint(2, 12)
        places: tuple[str, ...] = ()
        for _ in range(reads):
            if weights == "skewed" and rng.random() < 0.2:
                departement = rng.choice(heavy)
            else:
                departement = rng.choice(DEPARTEMENTS)
            places = note_place(places, departement)
        sessions += 1
        exempt += list_like(reads, places) < reads
    assert exempt / sessions < 2.0 ** -CATCHMENT_BITS
