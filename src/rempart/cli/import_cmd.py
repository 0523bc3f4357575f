"""`rempart import`: load insurer and provider files, each all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from rempart.cli.common import DataDirOption, console, domain_errors, load_settings
from rempart.ingest.formats import FileKind
from rempart.ingest.service import DEFAULT_WORKERS, FileReport, Importer
from rempart.runtime import Runtime


class RowsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "", style="progress.data.speed")


class _RichProgress:
    """One bar per file with rows/s; a one-line summary per file (counts only)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def file_started(self, *, name: str, kind: FileKind, rows: int) -> None:
        console.print(f"applying {name} ({kind.value}, {rows:,} rows)")
        self._task = self._progress.add_task(name, total=rows)

    def rows_done(self, count: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, count)

    def file_finished(self, report: FileReport) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None
        counts = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in report.counts.items()
                           if v) or "no change"
        if report.status == "applied":
            rate = report.rows / report.seconds if report.seconds > 0 else 0.0
            console.print(f"{report.name}: applied {report.rows:,} rows in "
                          f"{report.seconds:.1f} s ({rate:,.0f} rows/s); {counts}")
        else:
            console.print(f"{report.name}: {report.status}, skipped")


def import_files(
    paths: Annotated[list[Path], typer.Argument(help="Files, or directories of *.csv files.")],
    data_dir: DataDirOption = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=0, help="Worker processes that validate and seal large members "
                                 "files (default 0: all in this process).")] = None,
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
                          RowsPerSecond(), TimeElapsedColumn(), console=console,
                          transient=True) as progress:
                reports = importer.import_paths(paths=paths, progress=_RichProgress(progress))
        finally:
            runtime.close()
    applied = sum(1 for r in reports if r.status == "applied")
    console.print(f"done: {applied} file(s) applied, {len(reports) - applied} already applied")
