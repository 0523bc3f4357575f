"""The drill's parts on their own: options, scoring, and the S7 searches against planted
positive controls (so that a zero in the drill means "not found", not "not looked")."""

from __future__ import annotations

import base64
import datetime as dt
import random
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rempart.core.identifiers import build_nir
from rempart.drill.attacks_api import FEW_NETWORKS, network_address
from rempart.drill.errors import DrillError
from rempart.drill.long_tail import add_long_tail, long_tail_size
from rempart.drill.options import SCENARIOS, make_options, parse_scenarios
from rempart.drill.profiles import LONG_TAIL_PROFESSIONS
from rempart.drill.scoring import AttackLog
from rempart.drill.stolen_copy import guessed_keys, run_stolen_copy
from rempart.drill.truth import Person
from rempart.drill.world import build_instance
from rempart.guard.netblock import address_block
from rempart.population.sealing import identity_index
from rempart.vault.keyring import Keyring
from rempart.vault.vault import Vault

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def test_scenarios_are_parsed_and_unknown_ones_refused_by_name() -> None:
    assert parse_scenarios(" s3,S1 ,S3") == ("S3", "S1")
    assert parse_scenarios(None) == tuple(SCENARIOS)
    with pytest.raises(DrillError, match="unknown scenario S10"):
        parse_scenarios("S1,S10")


@pytest.mark.parametrize("changes", [{"days": 0}, {"population": 10}, {"accounts": 1},
                                     {"seed": -1}, {"warmup_days": -1}, {"warmup_days": 31},
                                     {"s5_accounts": 1}, {"s5_accounts": 1001},
                                     {"s5_networks": "many"}, {"s5_networks": ""}])
def test_sizes_out_of_range_are_refused(changes: dict[str, int]) -> None:
    arguments = {"scenarios": "S1", "seed": 1, "days": 1, "population": 100, "accounts": 4,
                 "baseline": False} | changes
    with pytest.raises(DrillError, match="--" + next(iter(changes)).replace("_", "-")):
        make_options(**arguments)  # type: ignore[arg-type]


def test_the_default_s5_hijacks_hundreds_of_accounts_from_a_proxy_pool() -> None:
    options = make_options(scenarios=None, seed=1, days=2, population=1000, accounts=12,
                           baseline=False)
    assert options.s5_accounts >= 100
    assert options.s5_networks == "each"
    # The long tail holds every hijacked account and bystanders beside them.
    assert long_tail_size(options.s5_accounts) > options.s5_accounts


@pytest.mark.parametrize(("networks", "blocks"), [("one", 1), ("few", FEW_NETWORKS),
                                                  ("each", 200)])
def test_s5_spreads_its_accounts_over_networks_as_asked(networks: str, blocks: int) -> None:
    addresses = [network_address(n, networks) for n in range(200)]
    assert len(set(addresses)) == 200
    assert len({address_block(a) for a in addresses}) == blocks
    if networks == "each":  # unrelated networks, not neighbours in one range
        assert len({a.split(".")[0] for a in addresses}) > 100
        assert not any(a.startswith(("10.", "127.", "203.0.")) for a in addresses)


def test_scores_say_records_per_account() -> None:
    log = AttackLog()
    for n in range(4):
        at = T0 + dt.timedelta(seconds=n)
        log.request(at=at, account=f"a{n % 2}")
        log.outcome(at=at, person=f"p{n}", status=201, disclosed=n != 3)
    assert log.score()["accounts_used"] == 2
    assert log.score()["records_per_account"] == 1.5
    assert AttackLog().score()["records_per_account"] is None


@given(st.lists(st.tuples(st.integers(0, 3600), st.sampled_from([201, 401, 429]),
                          st.booleans(), st.integers(0, 20)), min_size=1, max_size=40))
def test_scores_follow_the_answers(answers: list[tuple[int, int, bool, int]]) -> None:
    log = AttackLog()
    answers = sorted(answers)
    for second, status, covered, person in answers:
        at = T0 + dt.timedelta(seconds=second)
        log.request(at=at, account="a")
        log.outcome(at=at, person=f"p{person}", status=status,
                    disclosed=covered and status == 201)
    score = log.score()
    assert score["records_disclosed"] == len({p for _, s, c, p in answers if c and s == 201})
    assert score["records_disclosed"] <= score["records_attempted"]
    refusals = [s for s, st_, _, _ in answers if st_ in (401, 429)]
    assert score["time_to_detect_s"] == (refusals[0] - answers[0][0] if refusals else None)
    last_data = max((s for s, st_, c, _ in answers if c and st_ == 201), default=None)
    contain = score["time_to_contain_s"]
    if contain is not None:
        assert refusals
        assert (last_data is None or last_data < refusals[-1])
    counts = [n for _, n in log.timeline]
    assert counts == sorted(counts)


def _person(n: int) -> Person:
    nir = build_nir(sex=1 + n % 2, birth_year=1960 + n, birth_month=1 + n % 12,
                    place="75056", serial=100 + n)
    return Person(key=f"p{n}", nir=nir, birth_date=dt.date(1960 + n, 1 + n % 12, 10),
                  birth_rank=1, amc_number="123456789", member_number=f"M{n:04d}",
                  last_name=f"NOM{n}", first_name="X", postcode="75011", departement="75",
                  active=True)


def test_the_search_finds_planted_identities_in_every_encoding(tmp_path: Path) -> None:
    people = [_person(n) for n in range(6)]
    planted = [people[0].nir.encode(), people[1].nir.encode("utf-16-le"),
               people[2].nir.encode().hex().encode(),
               b"x" + base64.b64encode(b"..." + people[3].nir.encode() + b"..."),
               people[4].nir[:13].encode("utf-16-be")]
    database = tmp_path / "copy.db"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE beneficiaries (identity_idx BLOB)")
        conn.execute("CREATE TABLE filler (data BLOB)")
        for blob in planted:
            conn.execute("INSERT INTO filler VALUES (?)", (b"\x00\x01" + blob + b"\x02",))
    result = run_stolen_copy(files=[database], people=people)
    assert result.nir_found == 5
    assert result.recovered == 5  # person 5 was never planted


def test_the_dictionary_attack_recovers_an_index_made_with_a_guessable_key(
        tmp_path: Path) -> None:
    people = [_person(n) for n in range(4)]
    weak = Vault(guessed_keys()[3])
    strong = Vault(Keyring.generate())
    database = tmp_path / "copy.db"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE beneficiaries (identity_idx BLOB)")
        conn.execute("INSERT INTO beneficiaries VALUES (?)",
                     (identity_index(weak, people[0].nir, people[0].birth_date),))
        for person in people[1:]:
            conn.execute("INSERT INTO beneficiaries VALUES (?)",
                         (identity_index(strong, person.nir, person.birth_date),))
    result = run_stolen_copy(files=[database], people=people)
    assert result.index_matches == 1
    assert result.recovered == 1


def test_the_long_tail_is_set_up_without_moving_the_day_on(tmp_path: Path) -> None:
    """Each practice of the long tail is a fresh organisation with its own account, and
    the set-up leaves the simulated morning where it was (one TOTP step for all), so
    the honest desks start at their opening hours, not in a burst hours later."""
    instance = build_instance(workdir=tmp_path, people=80, seed=2)
    try:
        before = instance.world.clock.now()
        tail = add_long_tail(instance, count=12, rng=random.Random(3))
        moved = (instance.world.clock.now() - before).total_seconds()
        assert moved <= 60
        assert len({a.organisation_id for a in tail}) == 12
        assert not {a.organisation_id for a in tail} & {o[0] for o in instance.organisations}
        assert {a.profession for a in tail} == set(LONG_TAIL_PROFESSIONS)
    finally:
        instance.close()
