"""`rempart bench scope`: breach scoping over a large synthetic audit log (figures only)."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import text

from rempart.cli.common import console, domain_errors
from rempart.clock import SystemClock
from rempart.response.scope_bench import Shape, fill_audit_log, measure_scopes
from rempart.runtime import Runtime
from rempart.settings import Settings, normalise_database_url

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def bench_scope(
    entries: Annotated[int, typer.Option("--entries", min=1000,
                                         help="Entries in the synthetic log.")] = 1_000_000,
    directory: Annotated[Path | None, typer.Option(
        "--dir", help="Keep the SQLite instance here and reuse it on the next run "
                      "(default: a temporary directory, removed after).")] = None,
    database_url: Annotated[str | None, typer.Option(
        "--database-url", help="An empty PostgreSQL database to fill instead of SQLite.")]
        = None,
) -> None:
    """Fill an audit log with N chained entries (once), then time typical scopes."""
    work = directory or Path(tempfile.mkdtemp(prefix="rempart-scope-bench-"))
    url = database_url or f"sqlite:///{work / 'rempart.db'}"
    settings = Settings.load(data_dir=work, database_url=normalise_database_url(url),
                             key_file=work / "keyring.json")
    shape = Shape(entries=entries, start=START)
    figures: dict[str, object] = {"backend": "postgresql" if database_url else "sqlite",
                                  "entries": entries}
    try:
        with domain_errors(), Runtime.open(settings, create_keys=True) as runtime:
            with runtime.engine.connect() as conn:
                present = int(conn.execute(text("SELECT position FROM audit_head")).scalar_one())
            if present < entries:
                started = time.perf_counter()
                with Progress(TextColumn("filling the audit log"), BarColumn(),
                              TaskProgressColumn(), TextColumn("{task.completed:,.0f} entries"),
                              TimeElapsedColumn(), console=console, transient=True) as progress:
                    task = progress.add_task("fill", total=entries - present)
                    fill_audit_log(runtime.engine, Shape(entries=entries - present, start=START),
                                   on_progress=lambda n: progress.advance(task, n))
                figures["fill_seconds"] = round(time.perf_counter() - started, 1)
            figures["scopes"] = measure_scopes(runtime.engine, shape, SystemClock())
    finally:
        if directory is None:
            shutil.rmtree(work, ignore_errors=True)
    typer.echo(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode())
