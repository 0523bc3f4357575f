"""The exfiltration guard in the drill, on attackers it was not tuned on: other seeds,
other paces, other numbers of stolen accounts, after a day of honest traffic and on the
platform's first morning. With the guard each attack gets a fraction of what it gets
without it; no honest provider is suspended, and friction is confined to the accounts
whose credentials the attacker holds."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from rempart.drill import attacks_api, runner
from rempart.drill.attack_base import AttackContext
from rempart.drill.options import make_options

Attack = Callable[[AttackContext, dt.datetime], AsyncIterator[dt.datetime]]


def _distributed(accounts: int, pace_s: float, networks: str = "one") -> Attack:
    return lambda ctx, until: attacks_api.s5_distributed(
        ctx, accounts=accounts, pace_s=pace_s, networks=networks, until=until)


def _low_and_slow(accounts: int, pace_s: float) -> Attack:
    return lambda ctx, until: attacks_api.s4_low_and_slow(ctx, accounts=accounts,
                                                          pace_s=pace_s, until=until)


def _drill(monkeypatch: pytest.MonkeyPatch, scenario: str, attack: Attack, *, seed: int,
           baseline: bool, warmup_days: int = 1, s5_accounts: int = 8) -> dict[str, Any]:
    """A small platform (400 persons, 8 main accounts); S5's instance also gets the long
    tail sized for `s5_accounts` (drill/long_tail.py), among which the attack picks."""
    monkeypatch.setitem(runner.ATTACKS, scenario, attack)
    options = make_options(scenarios=scenario, seed=seed, days=1, population=400,
                           accounts=8, baseline=baseline, warmup_days=warmup_days,
                           s5_accounts=s5_accounts)
    return runner.run_drill(options)


@pytest.mark.parametrize(("scenario", "attack", "seed"), [
    ("S5", _distributed(accounts=5, pace_s=12), 4),
    ("S5", _distributed(accounts=3, pace_s=90), 7),
    ("S4", _low_and_slow(accounts=3, pace_s=240), 5),
])
def test_the_guard_contains_attackers_it_was_not_tuned_on(
        monkeypatch: pytest.MonkeyPatch, scenario: str, attack: Attack, seed: int) -> None:
    guarded = _drill(monkeypatch, scenario, attack, seed=seed, baseline=False)
    unguarded = _drill(monkeypatch, scenario, attack, seed=seed, baseline=True)
    with_guard = guarded["scenarios"][scenario]
    without = unguarded["scenarios"][scenario]
    assert without["records_disclosed"] >= 20  # the attack works when nothing stops it
    assert with_guard["records_disclosed"] <= max(3.0 * with_guard["accounts_used"],
                                                  0.25 * without["records_disclosed"])
    assert with_guard["time_to_contain_s"] is not None
    assert guarded["legit"]["accounts_suspended"] == 0
    # Honest providers whose own credentials are being abused at that moment may be
    # slowed down or asked for a second factor beside the thief; no others.
    assert guarded["legit"]["accounts_with_friction"] <= with_guard["accounts_used"]
    assert unguarded["guard"] == "off"
    assert guarded["guard"] == "on"


@pytest.mark.parametrize(("accounts", "pace_s", "seed", "warmup_days"), [
    (5, 30, 2, 1),   # fewer accounts, after a day of honest traffic
    (8, 90, 3, 1),   # a slower pace
])
def test_a_distributed_attack_reads_about_one_record_per_account(
        monkeypatch: pytest.MonkeyPatch, accounts: int, pace_s: float, seed: int,
        warmup_days: int) -> None:
    """One actor's sessions on many accounts from one network: the platform-level
    evidence (rempart.guard.campaign) stops each within a couple of records."""
    attack = _distributed(accounts=accounts, pace_s=pace_s)
    guarded = _drill(monkeypatch, "S5", attack, seed=seed, baseline=False,
                     warmup_days=warmup_days)
    score = guarded["scenarios"]["S5"]
    print(f"S5 {accounts} accounts every {pace_s} s, seed {seed}, warm-up {warmup_days} day(s): "
          f"{score['records_disclosed']} records, {score['accounts_used']} accounts; honest "
          f"friction {guarded['legit']['accounts_with_friction']}")
    assert score["accounts_used"] == accounts
    assert score["records_disclosed"] <= 2.0 * accounts
    assert guarded["legit"]["accounts_suspended"] == 0
    assert guarded["legit"]["accounts_with_friction"] <= accounts


def test_a_distributed_attack_on_the_platforms_first_morning(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The cold start: nothing learnt, a small platform (8 honest accounts) with a few dozen
    checks behind it, so the network's evidence is weak. The goal of 2 records per
    account is not met here (5.5 per account when written, 4.75 beside the long tail's
    10 practices on branch drills5; 1.0 in the default drill's cold start of the
    8-account S5): the test bounds it with margin, and keeps the honest
    providers free of it."""
    guarded = _drill(monkeypatch, "S5", _distributed(accounts=8, pace_s=30), seed=6,
                     baseline=False, warmup_days=0)
    score = guarded["scenarios"]["S5"]
    print(f"S5 cold start, 8 accounts every 30 s, seed 6: {score['records_disclosed']} records")
    assert score["accounts_used"] == 8
    assert score["records_disclosed"] <= 8.0 * 8
    assert score["time_to_contain_s"] is not None
    assert guarded["legit"]["accounts_suspended"] == 0
    assert guarded["legit"]["accounts_with_friction"] <= 8


def test_the_default_s5_hijacks_hundreds_of_accounts_and_is_scored_per_account() -> None:
    """The default S5 (DESIGN.md's "hundreds of hijacked accounts, each low and slow"):
    200 accounts, most of them solo practices of the long tail with a day of honest
    history, one network each. Scored per account; every honest practice of the long
    tail is scored with the others, and none is suspended."""
    options = make_options(scenarios="S5", seed=1, days=1, population=400, accounts=4,
                           baseline=False)
    result = runner.run_drill(options)
    score = result["scenarios"]["S5"]
    legit = score["legit"]
    print(f"default S5 on a small platform: {score['records_disclosed']} records over "
          f"{score['accounts_used']} accounts; honest friction {legit['accounts_with_friction']}"
          f" ({legit['hijacked_accounts_with_friction']} hijacked), {legit['accounts']} accounts")
    assert (result["s5_accounts"], result["s5_networks"]) == (200, "each")
    assert score["accounts_used"] == 200
    assert score["records_per_account"] == round(score["records_disclosed"] / 200, 2)
    assert legit["accounts"] > 200  # the long tail's practices worked beside the attack
    assert legit["accounts_suspended"] == 0
    assert (legit["hijacked_accounts_with_friction"] + legit["other_accounts_with_friction"]
            == legit["accounts_with_friction"])
