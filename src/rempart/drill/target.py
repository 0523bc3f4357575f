"""The drill against a running instance on loopback (`--prepare`, then `--target URL`).

A running instance keeps its own system clock and configuration, and nothing
drill-specific is inside it. So the drill splits in two:

1. `prepare` makes the instance's data directory the way an operator would (synthetic
   files through the real importer, data keys, audit signing key) and, through the
   domain services, the honest accounts (TOTP enrolled, an API client each). The
   accounts' credentials and the synthetic files, the drill's ground truth, stay beside
   the data directory, not in it. It writes the environment to serve it with.
2. The operator serves that data directory with the normal server command.
3. `run_target` plays the scenarios that fit real time against it over real HTTP, each
   for a short live window, beside honest providers at a busy hour's pace. The scenarios
   that need days of simulated time (S4, S5, S6) and those scored on stolen files
   (S7, S8) are refused by name: run them in process, without --target.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from rempart.audit.signing import create_signing_key
from rempart.auth.config import AuthSettings
from rempart.auth.events import MemoryEventSink
from rempart.auth.services import AuthServices
from rempart.clock import SystemClock
from rempart.drill import attacks_api, attacks_portal
from rempart.drill.clocks import RealTime
from rempart.drill.endpoint import Loopback
from rempart.drill.errors import DrillError
from rempart.drill.options import SCENARIOS, DrillOptions
from rempart.drill.runner import Attack, choose_organisations, merge, play_scenario
from rempart.drill.scoring import LegitLog
from rempart.drill.truth import read_members
from rempart.drill.world import Account, make_world, open_account, organisations_of
from rempart.ingest.service import Importer
from rempart.runtime import Runtime
from rempart.settings import Settings
from rempart.synth import generate_population

ACCOUNTS_FILE = "drill-accounts.json"
SERVE_ENV = "serve.env"
SERVER_FACTORY = "rempart.web.asgi:create_app_from_environment"
ATTACK_DELAY_S = 5.0  # the honest providers are at work when the attacker starts

# Reduced scale: each attack fits a live window of a minute or two.
LIVE_ATTACKS: dict[str, Attack] = {
    "S1": lambda ctx, until: attacks_portal.s1_password_only(ctx, accounts=2, per_account=5),
    "S2": lambda ctx, until: attacks_portal.s2_stuffing(ctx, attempts=24, addresses=8),
    "S3": lambda ctx, until: attacks_portal.s3_aitm(ctx, targets=20),
    "S9": lambda ctx, until: attacks_api.s9_copied_token(ctx, per_account=5),
}
NOT_LIVE = {
    "S4": "S4 keeps to the victims' opening hours over days of simulated time",
    "S5": "S5 keeps to the victims' opening hours over simulated days",
    "S6": "S6 probes for hours of simulated time, in opening hours",
    "S7": "S7 is scored on a stolen copy of the database file, not over HTTP",
    "S8": "S8 is scored on tampered copies of the audit log, not over HTTP",
}


def live_scenarios(wanted: tuple[str, ...] | None) -> tuple[str, ...]:
    """The scenarios a --target run plays (all that fit real time by default)."""
    if wanted is None:
        return tuple(LIVE_ATTACKS)
    refused = [NOT_LIVE[s] for s in wanted if s in NOT_LIVE]
    if refused:
        raise DrillError("with --target only " + ", ".join(LIVE_ATTACKS) + " run: "
                         + "; ".join(refused) + ". Run those without --target")
    return wanted


def serve_environment(directory: Path, target: Loopback) -> dict[str, str]:
    """What the normal server reads to serve the prepared instance at the target."""
    env = {"REMPART_DATA_DIR": str(directory.resolve() / "instance"),
           "REMPART_ORIGINS": target.base_url, "REMPART_TOKEN_ISSUER": target.base_url,
           # The drill stands where a deployment's reverse proxy stands (docs/deploy.md):
           # each agent's address comes in X-Forwarded-For from loopback.
           "REMPART_TRUSTED_PROXIES": "127.0.0.1/32,::1/128"}
    if target.base_url.startswith("http://"):
        env["REMPART_COOKIE_SECURE"] = "0"  # browsers drop Secure cookies on plain HTTP
    return env


def prepare(directory: Path, target: Loopback, *, seed: int, population: int,
            accounts: int) -> list[str]:
    """Make the instance and the drill's accounts; the lines that tell how to serve it."""
    if directory.exists() and any(directory.iterdir()):
        raise DrillError(f"{directory} is not empty: prepare a fresh directory")
    clock = SystemClock()
    people = directory / "population"
    generate_population(out=people, people=population, seed=seed, today=clock.now().date())
    data_dir = directory / "instance"
    settings = Settings.load(data_dir=data_dir,
                             database_url=f"sqlite:///{data_dir / 'rempart.db'}",
                             key_file=data_dir / "keyring.json")
    with Runtime.open(settings, clock=clock, create_keys=True) as runtime:
        Importer(engine=runtime.engine, vault=runtime.vault, clock=clock,
                 workers=1).import_paths(paths=[people])
        create_signing_key(settings.audit_signing_key)
        auth = AuthServices.build(runtime, events=MemoryEventSink())
        chosen = choose_organisations(organisations_of(runtime), count=accounts,
                                      rng=random.Random(seed * 1009))
        made = [open_account(auth, clock, number=i + 1, organisation=org)
                for i, org in enumerate(chosen)]
    secrets_file = directory / ACCOUNTS_FILE
    secrets_file.touch(mode=0o600)
    secrets_file.write_text(json.dumps({"seed": seed, "target": target.base_url, "accounts": [
        dataclasses.asdict(a) for a in made]}), encoding="utf-8")
    env = serve_environment(directory, target)
    (directory / SERVE_ENV).write_text("".join(f"{k}={v}\n" for k, v in env.items()),
                                       encoding="utf-8")
    host, _, port = target.base_url.split("://", 1)[1].rpartition(":")
    return [f"prepared {directory}: {accounts} accounts, {population} synthetic persons",
            "serve it with the normal server, then run the drill against it:",
            f"  set -a; . {directory / SERVE_ENV}; set +a",
            f"  uvicorn --factory {SERVER_FACTORY} --host {host.strip('[]')} "
            f"--port {port or 80} --no-access-log",
            f"  rempart drill --target {target.base_url} --instance {directory}"]


def run_target(options: DrillOptions, target: Loopback, directory: Path, *, minutes: int,
               on_stage: Callable[[str], None] | None = None) -> dict[str, Any]:
    stage = on_stage or (lambda _text: None)
    accounts, seed = _prepared(directory, target)
    clock = RealTime()
    world = make_world(target, clock, seed=seed, auth=AuthSettings(),
                       members=read_members(directory / "population", today=clock.now().date()))
    _reachable(target)
    started = clock.now()
    scenarios: dict[str, Any] = {}
    legit = LegitLog()
    timelines: dict[str, list[tuple[float, int]]] = {}
    for scenario in options.scenarios:
        stage(f"{scenario}: {SCENARIOS[scenario]} (live, {minutes} min)")
        begin = clock.now()
        attack_log, log = play_scenario(
            world, accounts, LIVE_ATTACKS[scenario],
            rng=random.Random(f"{options.seed}/{scenario}"), days=1, begin=begin,
            attack_start=begin + dt.timedelta(seconds=ATTACK_DELAY_S),
            until=begin + dt.timedelta(minutes=minutes), live=True)
        score = attack_log.score()
        score["legit"] = log.score()
        scenarios[scenario] = score
        timelines[scenario] = attack_log.timeline
        merge(legit, log, scenario)
    return {"seed": options.seed, "target": target.base_url, "minutes_per_scenario": minutes,
            "honest_accounts_per_run": len(accounts), "guard": "as served",
            "started": started.isoformat(), "scenarios": scenarios,
            "legit": legit.score(), "timelines": timelines}


def _prepared(directory: Path, target: Loopback) -> tuple[list[Account], int]:
    path = directory / ACCOUNTS_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        accounts = [Account(**row) for row in document["accounts"]]
        seed = int(document["seed"])
    except (OSError, ValueError, KeyError, TypeError):
        raise DrillError(f"{directory} holds no prepared drill: run rempart drill --prepare "
                         "--instance DIR --target URL first") from None
    if document.get("target") != target.base_url:
        raise DrillError(f"{directory} was prepared for {document.get('target')}, "
                         f"not {target.base_url}")
    if not accounts:
        raise DrillError(f"{directory} holds no drill accounts")
    return accounts, seed


def _reachable(target: Loopback) -> None:
    try:
        answer = httpx.get(target.connect_url + "/healthz", timeout=5,
                           headers={"host": target.base_url.split("://", 1)[1]})
    except httpx.TransportError:
        answer = None
    if answer is None or answer.status_code != 200:
        raise DrillError(f"nothing answers at {target.base_url}/healthz: start the instance "
                         "with the command --prepare printed")

