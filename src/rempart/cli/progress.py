"""Rich progress pieces shared by the commands that import files (counts only, never values)."""

from __future__ import annotations

from rich.progress import Progress, ProgressColumn, Task, TaskID
from rich.text import Text

from rempart.cli.common import console
from rempart.ingest.formats import FileKind
from rempart.ingest.service import FileReport


class PerSecond(ProgressColumn):
    def __init__(self, suffix: str = "/s") -> None:
        super().__init__()
        self._suffix = suffix

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f}{self._suffix}" if speed else "", style="progress.data.speed")


class ImportBars:
    """One bar per file being applied (rempart.ingest.service.ImportProgress).

    With `report`, a line when each file starts and a one-line summary when it ends.
    """

    def __init__(self, progress: Progress, *, report: bool) -> None:
        self._progress = progress
        self._report = report
        self._task: TaskID | None = None

    def file_started(self, *, name: str, kind: FileKind, rows: int) -> None:
        if self._report:
            console.print(f"applying {name} ({kind.value}, {rows:,} rows)")
        self._task = self._progress.add_task(name if self._report else f"importing {name}",
                                             total=rows)

    def rows_done(self, count: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, count)

    def file_finished(self, report: FileReport) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None
        if self._report:
            _print_summary(report)


def _print_summary(report: FileReport) -> None:
    counts = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in report.counts.items()
                       if v) or "no change"
    if report.status == "applied":
        rate = report.rows / report.seconds if report.seconds > 0 else 0.0
        console.print(f"{report.name}: applied {report.rows:,} rows in "
                      f"{report.seconds:.1f} s ({rate:,.0f} rows/s); {counts}")
    else:
        console.print(f"{report.name}: {report.status}, skipped")
