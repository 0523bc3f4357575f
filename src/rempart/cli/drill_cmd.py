"""`rempart drill`: the breach drill, scored; one JSON object with --json.

Prints counts and timings only: no identity ever reaches the terminal.
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
from rempart.drill.options import make_options
from rempart.drill.report import write_report
from rempart.drill.runner import run_drill


def drill(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    scenario: Annotated[str | None, typer.Option(
        "--scenario", help="Comma-separated scenario ids, e.g. S1,S3 (default: all).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same drill.")] = 1,
    days: Annotated[int, typer.Option("--days", help="Simulated days of traffic.")] = 2,
    population: Annotated[int, typer.Option(
        "--population", help="Synthetic persons in each instance.")] = 1_000,
    accounts: Annotated[int, typer.Option(
        "--accounts", help="Honest provider accounts in each instance.")] = 12,
    baseline: Annotated[bool, typer.Option(
        "--baseline", help="Run with the exfiltration guard switched off.")] = False,
    report: Annotated[Path | None, typer.Option(
        "--report", help="Write an HTML report into this directory.")] = None,
) -> None:
    """Replay the 2024 attack and its variants beside honest providers, and score both."""
    # Security events are logged with structlog; keep stdout for the one JSON object.
    # Resolved at each log line, not now: a stderr captured for a test run is closed later.
    structlog.configure(logger_factory=lambda *_: structlog.PrintLogger(file=sys.stderr))
    with domain_errors():
        options = make_options(scenarios=scenario, seed=seed, days=days,
                               population=population, accounts=accounts, baseline=baseline)
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


def _print_table(result: dict[str, Any]) -> None:
    table = Table(title=f"rempart drill, seed {result['seed']}, {result['days']} day(s)")
    for column in ("scenario", "disclosed", "attempted", "accounts", "detect s", "contain s"):
        table.add_column(column, justify="right")
    for name, score in result["scenarios"].items():
        table.add_row(name, str(score["records_disclosed"]), str(score["records_attempted"]),
                      str(score["accounts_used"]), str(score["time_to_detect_s"]),
                      str(score["time_to_contain_s"]))
    console.print(table)
    console.print(f"honest providers: {result['legit']}")
