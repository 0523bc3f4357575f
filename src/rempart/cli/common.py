"""Shared CLI plumbing: options, settings, turning domain errors into exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from rempart.core.errors import RempartError
from rempart.settings import Settings

console = Console(stderr=True)

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir",
                 help="Instance directory (default ./rempart-data or $REMPART_DATA_DIR)."),
]


def load_settings(data_dir: Path | None) -> Settings:
    return Settings.load(data_dir=data_dir)


@contextmanager
def domain_errors() -> Iterator[None]:
    """Print a domain error as one clear line and exit non-zero."""
    try:
        yield
    except RempartError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
