"""`rempart drill`: the breach drill, scored; one JSON object with --json.

In process by default (simulated time); `--prepare` and `--target URL` drive a running
instance on loopback instead (docs/drill.md). Prints counts and timings only: no
identity ever reaches the terminal.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import structlog
import typer
from rich.table import Table

from rempart.cli.common import console, domain_errors
from rempart.drill.endpoint import loopback_target
from rempart.drill.errors import DrillError
from rempart.drill.options import DrillOptions, make_options
from rempart.drill.report import write_report
from rempart.drill.runner import run_drill
from rempart.drill.target import live_scenarios, prepare, run_target

MAX_MINUTES = 60


def drill(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    scenario: Annotated[str | None, typer.Option(
        "--scenario", help="Comma-separated scenario ids, e.g. S1,S3 (default: all; with "
        "--target: S1,S2,S3,S9).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same drill.")] = 1,
    days: Annotated[int, typer.Option(
        "--days", help="Simulated days of attack, beside honest traffic.")] = 2,
    warmup_days: Annotated[int, typer.Option(
        "--warmup-days", help="Simulated days of honest traffic before the attacks begin "
        "(0: they begin on the platform's first morning).")] = 1,
    population: Annotated[int, typer.Option(
        "--population", help="Synthetic persons in each instance.")] = 1_000,
    accounts: Annotated[int, typer.Option(
        "--accounts", help="Honest provider accounts in each instance.")] = 12,
    s5_accounts: Annotated[int, typer.Option(
        "--s5-accounts", help="S5: hijacked accounts, most of them solo practices added "
        "to S5's instance.")] = 200,
    s5_networks: Annotated[str, typer.Option(
        "--s5-networks", help="S5: the attacker's networks: one (a /24 for all), few (8 "
        "/24s) or each (a /24 per account, a proxy pool).")] = "each",
    baseline: Annotated[bool, typer.Option(
        "--baseline", help="Run with the exfiltration guard switched off.")] = False,
    report: Annotated[Path | None, typer.Option(
        "--report", help="Write an HTML report into this directory.")] = None,
    target: Annotated[str | None, typer.Option(
        "--target", help="Drive a running instance at this loopback origin over real HTTP, "
        "in real time (e.g. http://127.0.0.1:8000); needs --instance. Any host outside "
        "127.0.0.0/8 and ::1 is refused.")] = None,
    instance: Annotated[Path | None, typer.Option(
        "--instance", help="With --prepare or --target: the drill's directory for a running "
        "instance (its data dir, the synthetic files, the drill accounts).")] = None,
    prepare_only: Annotated[bool, typer.Option(
        "--prepare", help="Make the instance and drill accounts in --instance, to be served "
        "at --target; print how to serve it, and stop.")] = False,
    minutes: Annotated[int, typer.Option(
        "--minutes", help="With --target: real minutes per scenario.")] = 2,
) -> None:
    """Replay the 2024 attack and its variants beside honest providers, and score both."""
    # Security events are logged with structlog; keep stdout for the one JSON object.
    # Resolved at each log line, not now: a stderr captured for a test run is closed later.
    structlog.configure(logger_factory=lambda *_: structlog.PrintLogger(file=sys.stderr))
    with domain_errors():
        options = make_options(scenarios=scenario, seed=seed, days=days,
                               population=population, accounts=accounts, baseline=baseline,
                               warmup_days=warmup_days, s5_accounts=s5_accounts,
                               s5_networks=s5_networks)
        if target is not None or prepare_only or instance is not None:
            result = _against_target(options, scenario=scenario, target=target,
                                     instance=instance, prepare_only=prepare_only,
                                     minutes=minutes)
            if result is None:
                return
        else:
            with console.status("drill") as status:
                result = run_drill(options, on_stage=lambda text: status.update(text))
        if report is not None:
            path = write_report(result, report)
            console.print(f"report written to {path}")
    result.pop("timelines", None)
    if as_json:
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
        return
    _print_table(result)


def _against_target(options: DrillOptions, *, scenario: str | None, target: str | None,
                    instance: Path | None, prepare_only: bool,
                    minutes: int) -> dict[str, Any] | None:
    """--prepare or --target: every option checked before anything is made or sent."""
    if target is None or instance is None:
        raise DrillError("--prepare and --target both need --target URL and --instance DIR")
    if options.baseline:
        raise DrillError("--baseline cannot switch a running instance's guard off: serve "
                         "it with the guard off yourself, or run without --target")
    if not 1 <= minutes <= MAX_MINUTES:
        raise DrillError(f"--minutes must be between 1 and {MAX_MINUTES}")
    scenarios = live_scenarios(options.scenarios if scenario is not None else None)
    loopback = loopback_target(target)
    if prepare_only:
        for line in prepare(instance, loopback, seed=options.seed,
                            population=options.population, accounts=options.accounts):
            console.print(line, highlight=False, soft_wrap=True)
        return None
    live = DrillOptions(scenarios=scenarios, seed=options.seed)
    with console.status("drill") as status:
        return run_target(live, loopback, instance, minutes=minutes,
                          on_stage=lambda text: status.update(text))


def _print_table(result: dict[str, Any]) -> None:
    where = f", against {result['target']}" if "target" in result else ""
    span = (f"{result['minutes_per_scenario']} min per scenario" if "target" in result
            else f"{result['days']} day(s) after {result['warmup_days']} of warm-up")
    table = Table(title=f"rempart drill, seed {result['seed']}, {span}{where}")
    for column in ("scenario", "disclosed", "attempted", "accounts", "per account",
                   "detect s", "contain s"):
        table.add_column(column, justify="right")
    for name, score in result["scenarios"].items():
        table.add_row(name, str(score["records_disclosed"]), str(score["records_attempted"]),
                      str(score["accounts_used"]), str(score.get("records_per_account")),
                      str(score["time_to_detect_s"]), str(score["time_to_contain_s"]))
    console.print(table)
    console.print(f"honest providers: {result['legit']}")
