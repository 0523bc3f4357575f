"""`rempart keys`: create and rotate the data keys."""

from __future__ import annotations

import typer

app = typer.Typer(help="Manage the versioned data keys.", no_args_is_help=True)
