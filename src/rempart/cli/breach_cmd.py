"""`rempart breach`: turn a breach scope into the GDPR article 33 and 34 documents.

Output on the terminal is counts only: the documents name real persons, the terminal
and its scroll-back must not.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from rempart.cli.common import DataDirOption, console, domain_errors, load_settings
from rempart.clock import SystemClock
from rempart.response import (
    BreachReporter,
    ContactPoint,
    Language,
    PersonDirectory,
    UnavailableDirectory,
    load_scope,
)
from rempart.settings import Settings

app = typer.Typer(help="Breach response: scope and GDPR reports.", no_args_is_help=True)


class LanguageChoice(enum.StrEnum):
    FR = "fr"
    EN = "en"
    BOTH = "both"

    @property
    def languages(self) -> tuple[Language, ...]:
        return (Language.FR, Language.EN) if self is LanguageChoice.BOTH else (Language(self),)


def make_directory(settings: Settings) -> PersonDirectory:
    """The person directory behind the letters (the seam the vault-backed one plugs into)."""
    return UnavailableDirectory(
        "the article 34 letters need the person directory, which reads the population "
        "database through the vault; it is not wired to this command yet")


@app.command("report")
def report(
    scope_file: Annotated[Path, typer.Option("--scope", help="Scope file (JSON or CSV).",
                                             dir_okay=False)],
    out: Annotated[Path, typer.Option("--out", help="New (or empty) directory to write.")],
    dpo_name: Annotated[str | None, typer.Option("--dpo-name",
                                                 help="Data protection officer's name.")] = None,
    dpo_contact: Annotated[str | None, typer.Option(
        "--dpo-contact", help="DPO's address, email or phone for the persons.")] = None,
    lang: Annotated[LanguageChoice, typer.Option("--lang", help="Letters' language(s).")]
        = LanguageChoice.BOTH,
    measure: Annotated[list[str] | None, typer.Option(
        "--measure", help="A measure taken (containment); repeat for several.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Write the article 33 draft notification and the article 34 letters for a scope."""
    settings = load_settings(data_dir)
    with domain_errors():
        scope = load_scope(scope_file)
        reporter = BreachReporter(directory=make_directory(settings), clock=SystemClock())
        with Progress(TextColumn("letters"), BarColumn(), TaskProgressColumn(),
                      TextColumn("{task.completed:,.0f} persons"), TimeElapsedColumn(),
                      console=console, transient=True) as progress:
            task = progress.add_task("letters", total=scope.counts.persons)
            summary = reporter.write_report(
                scope=scope, out=out, contact=ContactPoint(name=dpo_name, contact=dpo_contact),
                languages=lang.languages, measures=measure or (),
                on_progress=lambda n: progress.advance(task, n))
    deadline = summary.deadline
    hours, rest = divmod(int(abs(deadline.remaining).total_seconds()) // 60, 60)
    timing = (f"PASSED {hours} h {rest:02d} min ago" if deadline.overdue
              else f"{hours} h {rest:02d} min left")
    typer.echo(f"wrote {summary.files} files to {summary.out}: article 33 draft and "
               f"{summary.letters} letters for {summary.persons} persons of "
               f"{summary.insurers} insurers")
    typer.echo(f"article 33 deadline {deadline.due_at:%Y-%m-%d %H:%M} UTC ({timing})")
    if summary.to_complete:
        typer.echo("still to complete in the draft: " + ", ".join(summary.to_complete))
