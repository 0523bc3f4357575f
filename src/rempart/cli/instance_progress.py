"""Building a local instance with Rich progress bars: persons generated, rows imported.

Only counts and file names are shown: the files hold synthetic personal data, the
terminal never does.
"""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from rempart.bench.instance import LocalInstance, ensure_instance
from rempart.cli.common import console
from rempart.ingest.formats import FileKind
from rempart.ingest.service import FileReport
from rempart.settings import Settings


class PerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f}/s" if speed else "", style="progress.data.speed")


class _ImportBars:
    """One bar per file being applied (rempart.ingest.service.ImportProgress)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def file_started(self, *, name: str, kind: FileKind, rows: int) -> None:
        self._task = self._progress.add_task(f"importing {name}", total=rows)

    def rows_done(self, count: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, count)

    def file_finished(self, report: FileReport) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None


def build_instance_with_progress(*, settings: Settings, people: int,
                                 seed: int = 1) -> LocalInstance:
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  PerSecond(), TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                  transient=True) as progress:
        generating = progress.add_task("generating persons", total=people, visible=False)

        def generated(done: int) -> None:
            progress.update(generating, completed=done, visible=True)

        instance = ensure_instance(settings=settings, people=people, seed=seed,
                                   on_generated=generated,
                                   import_progress=_ImportBars(progress))
    return instance
