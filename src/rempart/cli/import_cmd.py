"""`rempart import`: load insurer and provider files, each all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from rempart.cli.common import DataDirOption, console, domain_errors, load_settings
from rempart.cli.progress import ImportBars, PerSecond
from rempart.ingest.service import DEFAULT_WORKERS, Importer
from rempart.runtime import Runtime


def import_files(
    paths: Annotated[list[Path], typer.Argument(help="Files, or directories of *.csv files.")],
    data_dir: DataDirOption = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=0, help="Worker processes that validate and seal large members "
                                 "files (default: one if the machine has a second core).")] = None,
) -> None:
    """Import insurer and provider files (each file is applied completely or not at all)."""
    settings = load_settings(data_dir)
    with domain_errors():
        runtime = Runtime.open(settings)
        try:
            importer = Importer(engine=runtime.engine, vault=runtime.vault,
                                clock=runtime.clock,
                                workers=DEFAULT_WORKERS if workers is None else workers)
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          PerSecond(" rows/s"), TimeElapsedColumn(), console=console,
                          transient=True) as progress:
                reports = importer.import_paths(paths=paths,
                                                progress=ImportBars(progress, report=True))
        finally:
            runtime.close()
    applied = sum(1 for r in reports if r.status == "applied")
    console.print(f"done: {applied} file(s) applied, {len(reports) - applied} already applied")
