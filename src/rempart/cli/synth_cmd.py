"""`rempart synth`: write a synthetic population as insurer files.

Prints counts only: the files themselves hold (synthetic) personal data, the terminal
never does.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from rempart.cli.common import console, domain_errors
from rempart.synth import SynthManifest, generate_population


class PersonsPerSecondColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- persons/s" if speed is None else f"{speed:,.0f} persons/s",
                    style="progress.data.speed")


def _parse_day(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("expected a date as YYYY-MM-DD", param_hint="--today") from None


def synth(
    people: Annotated[int, typer.Option("--people", min=1, help="Number of persons.")],
    out: Annotated[Path, typer.Option("--out", help="New or empty output directory.")],
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same files.")] = 1,
    part_rows: Annotated[int, typer.Option(
        "--part-rows", help="Largest number of rows in one members file.")] = 1_000_000,
    today: Annotated[str | None, typer.Option(
        "--today", help="Reference date YYYY-MM-DD for ages and contracts (default: today).",
    )] = None,
) -> None:
    """Write a synthetic population: insurers, guarantees, providers and members files."""
    reference_day = _parse_day(today)
    started = time.perf_counter()
    progress = Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(),
        MofNCompleteColumn(), PersonsPerSecondColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), console=console,
    )
    task = progress.add_task("persons", total=people)

    def on_progress(done: int) -> None:
        # The bar appears with the first persons, not before the arguments are checked.
        if not progress.live.is_started:
            progress.start()
        progress.update(task, completed=done)

    try:
        with domain_errors():
            manifest = generate_population(out=out, people=people, seed=seed,
                                           part_rows=part_rows, today=reference_day,
                                           on_progress=on_progress)
    finally:
        progress.stop()
    _print_summary(manifest, out, time.perf_counter() - started)


def _print_summary(manifest: SynthManifest, out: Path, seconds: float) -> None:
    table = Table(title=f"synthetic population in {out}")
    table.add_column("kind")
    table.add_column("files", justify="right")
    table.add_column("rows", justify="right")
    for kind, rows in manifest.counts.items():
        files = sum(1 for f in manifest.files if f.kind is kind)
        table.add_row(kind.value, str(files), f"{rows:,}")
    stdout = Console()
    stdout.print(table)
    stdout.print(f"{manifest.people:,} persons in {manifest.households:,} households, "
                 f"seed {manifest.seed}, {seconds:.1f} s "
                 f"({manifest.people / max(seconds, 1e-9):,.0f} persons/s)")
