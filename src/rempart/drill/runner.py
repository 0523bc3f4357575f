"""Run the drill: one fresh instance per scenario (so that one attack's traces do not
help or hinder another's), honest providers beside every attacker, scores kept outside.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from rempart.audit import Checkpointer, SigningKey, TrustedKeys
from rempart.auth.events import MemoryEventSink
from rempart.drill import attacks_api, attacks_portal
from rempart.drill.attack_base import AttackContext
from rempart.drill.honest import HonestProvider
from rempart.drill.long_tail import add_long_tail, long_tail_address, long_tail_size
from rempart.drill.options import SCENARIOS, DrillOptions
from rempart.drill.profiles import BUSY_PROFESSIONS
from rempart.drill.scheduler import run_actors
from rempart.drill.scoring import AttackLog, LegitLog
from rempart.drill.stolen_copy import run_stolen_copy
from rempart.drill.tamper import run_tamper_drill
from rempart.drill.world import START, Account, Instance, World, build_instance, open_account

ATTACK_STARTS_H = 9.0  # the attack begins in the morning after the warm-up, opening hours
ALERT_KINDS = frozenset({"login_throttled", "second_factor_failed", "step_up_required",
                         "session_refused", "api_token_refused", "api_request_refused",
                         "account_suspended"})
Attack = Callable[[AttackContext, dt.datetime], AsyncIterator[dt.datetime]]

ATTACKS: dict[str, Attack] = {
    "S1": lambda ctx, until: attacks_portal.s1_password_only(ctx),
    "S2": lambda ctx, until: attacks_portal.s2_stuffing(ctx),
    "S3": lambda ctx, until: attacks_portal.s3_aitm(ctx),
    "S4": lambda ctx, until: attacks_api.s4_low_and_slow(ctx, until=until),
    "S5": lambda ctx, until: attacks_api.s5_distributed(
        ctx, accounts=ctx.options.s5_accounts, networks=ctx.options.s5_networks,
        until=until),
    "S6": lambda ctx, until: attacks_api.s6_probing(ctx, until=until),
    "S9": lambda ctx, until: attacks_api.s9_copied_token(ctx),
}


def run_drill(options: DrillOptions, *, workdir: Path | None = None,
              on_stage: Callable[[str], None] | None = None) -> dict[str, Any]:
    stage = on_stage or (lambda _text: None)
    with tempfile.TemporaryDirectory(prefix="rempart-drill-") as tmp:
        base = workdir or Path(tmp)
        scenarios: dict[str, Any] = {}
        legit = LegitLog()
        timelines: dict[str, list[tuple[float, int]]] = {}
        for n, scenario in enumerate(options.scenarios):
            if scenario in ("S7", "S8"):
                continue
            stage(f"{scenario}: {SCENARIOS[scenario]}")
            score, log, timeline = _http_scenario(options, scenario, base / scenario, seed=n)
            scenarios[scenario] = score
            timelines[scenario] = timeline
            merge(legit, log, scenario)
        artefacts = [s for s in ("S7", "S8") if s in options.scenarios]
        if artefacts:
            stage(", ".join(artefacts) + ": the stolen copies")
            scenarios.update(_artefact_scenarios(options, artefacts, base / "artefacts"))
    return {"seed": options.seed, "days": options.days,
            "warmup_days": options.warmup_days, "population": options.population,
            "honest_accounts_per_run": options.accounts,
            "s5_accounts": options.s5_accounts, "s5_networks": options.s5_networks,
            "guard": "off" if options.baseline else "on",
            "simulated_start": START.isoformat(), "scenarios": scenarios,
            "legit": legit.score(), "timelines": timelines}


def merge(total: LegitLog, log: LegitLog, scenario: str) -> None:
    total.accounts |= {f"{scenario}:{a}" for a in log.accounts}
    total.portal_accounts |= {f"{scenario}:{a}" for a in log.portal_accounts}
    total.friction |= {f"{scenario}:{a}" for a in log.friction}
    total.suspended |= {f"{scenario}:{a}" for a in log.suspended}
    total.checks += log.checks
    total.portal_checks += log.portal_checks
    total.portal_sign_ins += log.portal_sign_ins
    total.claims += log.claims
    total.claims_accepted += log.claims_accepted
    total.covered += log.covered


def choose_organisations(organisations: list[tuple[int, str, str]], *, count: int,
                         rng: random.Random) -> list[tuple[int, str, str]]:
    """The honest accounts' organisations: professions with a profile, pharmacies first."""
    served = [o for o in organisations if o[1] in BUSY_PROFESSIONS] or organisations
    weights = [8 if o[1] == "pharmacy" else 1 for o in served]
    return rng.choices(served, weights=weights, k=count)


def _open_instance(options: DrillOptions, workdir: Path, *, seed: int, long_tail: int = 0,
                   ) -> tuple[Instance, list[Account], list[Account], MemoryEventSink]:
    """A fresh instance with the main honest accounts and, if asked, a long tail of solo
    practices (drill/long_tail.py)."""
    workdir.mkdir(parents=True, exist_ok=True)
    events = MemoryEventSink()
    instance = build_instance(workdir=workdir, people=options.population, seed=options.seed,
                              events=events, guard=not options.baseline)
    chosen = choose_organisations(instance.organisations, count=options.accounts,
                                  rng=random.Random(options.seed * 1009 + seed))
    accounts = [open_account(instance.auth, instance.world.clock, number=i + 1,
                             organisation=org) for i, org in enumerate(chosen)]
    tail = add_long_tail(instance, count=long_tail,
                         rng=random.Random(f"{options.seed}/long-tail/{seed}"))
    return instance, accounts, tail, events


def play_scenario(world: World, accounts: list[Account], attack: Attack, *,
                  rng: random.Random, days: int, begin: dt.datetime, attack_start: dt.datetime,
                  until: dt.datetime, live: bool = False, long_tail: Sequence[Account] = (),
                  options: DrillOptions | None = None) -> tuple[AttackLog, LegitLog]:
    """One attacker beside the honest providers (the main accounts, then the long tail's
    solo practices, each on its own network), until `until`; the ground truth of both.
    The attacker may hold the credentials of any of them."""
    legit = LegitLog()
    honest = [HonestProvider(world, account, rng=random.Random(rng.random()),
                             days=days, log=legit, address=f"10.2.{i // 250}.{i % 250 + 1}",
                             starts_on_day=days - 1 if i == 1 else 0,
                             moves_on_day=max(1, days // 2) if i == 2 else None,
                             live_until=until if live else None)
              for i, account in enumerate(accounts)]
    honest += [HonestProvider(world, account, rng=random.Random(rng.random()), days=days,
                              log=legit, address=long_tail_address(i))
               for i, account in enumerate(long_tail)]
    attack_log = AttackLog()
    ctx = AttackContext(world=world, rng=rng,
                        victims=accounts[3:] + accounts[:3] + list(long_tail),
                        start=attack_start, log=attack_log,
                        options=options or DrillOptions(scenarios=()))
    actors = [h.run(begin) for h in honest] + [attack(ctx, until)]
    asyncio.run(_drive(world, actors, honest, until))
    return attack_log, legit


def _http_scenario(options: DrillOptions, scenario: str, workdir: Path, *,
                   seed: int) -> tuple[dict[str, Any], LegitLog, list[tuple[float, int]]]:
    tail = long_tail_size(options.s5_accounts) if scenario == "S5" else 0
    instance, accounts, long_tail, events = _open_instance(options, workdir, seed=seed,
                                                           long_tail=tail)
    try:
        begin = instance.world.clock.now()
        midnight = dt.datetime.combine(begin.date(), dt.time(), tzinfo=dt.UTC)
        attack_day = midnight + dt.timedelta(days=options.warmup_days)
        attack_log, legit = play_scenario(
            instance.world, accounts, ATTACKS[scenario],
            rng=random.Random(f"{options.seed}/{scenario}"),
            days=options.warmup_days + options.days, begin=begin,
            attack_start=attack_day + dt.timedelta(hours=ATTACK_STARTS_H),
            until=attack_day + dt.timedelta(days=options.days), long_tail=long_tail,
            options=options)
        score = attack_log.score()
        _events_detection(score, attack_log, events)
        score["legit"] = legit.score() | _friction_split(legit, attack_log,
                                                         accounts + long_tail)
        return score, legit, attack_log.timeline
    finally:
        instance.close()


def _friction_split(legit: LegitLog, attack_log: AttackLog,
                    accounts: Sequence[Account]) -> dict[str, int]:
    """Honest accounts with friction, split: those whose credentials the attacker used
    (their own software meets the defences raised against the thief) and the others."""
    hijacked = {f"honest-{a.account_id}" for a in accounts if a.email in attack_log.accounts}
    return {"hijacked_accounts_with_friction": len(legit.friction & hijacked),
            "other_accounts_with_friction": len(legit.friction - hijacked)}


async def _drive(world: World, actors: list[AsyncIterator[dt.datetime]],
                 honest: list[HonestProvider], until: dt.datetime) -> None:
    try:
        await run_actors(world.clock, actors, until=until)
    finally:
        for actor in actors:
            await actor.aclose()  # type: ignore[attr-defined]
        for provider in honest:
            await provider.close()


def _events_detection(score: dict[str, Any], log: AttackLog,
                      events: MemoryEventSink) -> None:
    """An alert about one of the attacker's addresses or accounts counts as detection."""
    if log.started is None:
        return
    moments = [e.at for e in events.events
               if e.kind.value in ALERT_KINDS and e.at >= log.started
               and e.address in log.addresses]
    if moments:
        first = log.seconds(min(moments))
        current = score["time_to_detect_s"]
        score["time_to_detect_s"] = first if current is None else min(current, first)


def _artefact_scenarios(options: DrillOptions, wanted: Sequence[str],
                        workdir: Path) -> dict[str, Any]:
    instance, accounts, _tail, _events = _open_instance(options, workdir, seed=99)
    world = instance.world
    try:
        legit = LegitLog()
        honest = [HonestProvider(world, account, rng=random.Random(i), days=1, log=legit,
                                 address=f"10.2.0.{i + 1}") for i, account in enumerate(accounts)]
        begin = world.clock.now()
        until = dt.datetime.combine(begin.date(), dt.time(), tzinfo=dt.UTC) + dt.timedelta(
            days=1)
        asyncio.run(_drive(world, [h.run(begin) for h in honest], honest, until))
        key = SigningKey.generate()
        Checkpointer(engine=instance.runtime.engine, clock=instance.runtime.clock,
                     signing_key=key, max_entries=100).checkpoint()
        scores: dict[str, Any] = {}
        database = instance.database
        with instance.runtime.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(FULL)")
        if "S7" in wanted:
            files = [database, database.with_name(database.name + "-wal")]
            scores["S7"] = run_stolen_copy(files=files,
                                           people=world.members + world.outsiders).score()
        if "S8" in wanted:
            scores["S8"] = run_tamper_drill(database=database,
                                            trusted=TrustedKeys([key.verify_key]),
                                            workdir=workdir).score()
        return scores
    finally:
        instance.close()
