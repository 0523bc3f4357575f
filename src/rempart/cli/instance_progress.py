"""Building a local instance with Rich progress bars: persons generated, rows imported.

Only counts and file names are shown: the files hold synthetic personal data, the
terminal never does.
"""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from rempart.bench.instance import LocalInstance, ensure_instance
from rempart.cli.common import console
from rempart.cli.progress import ImportBars, PerSecond
from rempart.settings import Settings


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
                                   import_progress=ImportBars(progress, report=False))
    return instance
