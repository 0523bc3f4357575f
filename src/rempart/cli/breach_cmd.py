"""`rempart breach`: scope a breach from the audit log, then turn the scope into the GDPR
article 33 and 34 documents.

Output on the terminal is counts only: the documents name real persons, the terminal
and its scroll-back must not.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from rempart.audit import AuditLog
from rempart.cli.common import DataDirOption, console, domain_errors, load_settings
from rempart.clock import SystemClock
from rempart.response import (
    BreachReporter,
    ContactPoint,
    InvalidScope,
    Language,
    PersonDirectory,
    Selector,
    UnavailableDirectory,
    Window,
    load_scope,
)
from rempart.response.scoping import BreachScoper, scope_files
from rempart.response.vault_directory import VaultDirectory
from rempart.runtime import Runtime
from rempart.settings import Settings
from rempart.vault.keyring import ENV_VAR as KEYRING_ENV

app = typer.Typer(help="Breach response: scope and GDPR reports.", no_args_is_help=True)


class LanguageChoice(enum.StrEnum):
    FR = "fr"
    EN = "en"
    BOTH = "both"

    @property
    def languages(self) -> tuple[Language, ...]:
        return (Language.FR, Language.EN) if self is LanguageChoice.BOTH else (Language(self),)


class _RuntimeDirectory(VaultDirectory):
    """The vault directory over a runtime of its own, closed with it."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._log = AuditLog(engine=runtime.engine, clock=runtime.clock)
        super().__init__(engine=runtime.engine, vault=runtime.vault, audit=self._log)

    def close(self) -> None:
        self._log.close()
        self._runtime.close()


def make_directory(settings: Settings) -> PersonDirectory:
    """The person directory behind the letters: the sealed population, through the vault."""
    if not os.environ.get(KEYRING_ENV) and not settings.key_file.exists():
        return UnavailableDirectory(
            "the article 34 letters need the person directory, which reads the population "
            f"database through the vault, and this instance has no keyring "
            f"({settings.key_file} does not exist)")
    return _RuntimeDirectory(Runtime.open(settings))


def parse_moment(option: str, value: str) -> dt.datetime:
    """An ISO 8601 date and time with a UTC offset ('Z' or '+01:00'), or InvalidScope."""
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidScope(option, "is not an ISO 8601 date and time") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidScope(option, "must carry a UTC offset, e.g. 2024-02-01T08:00:00+00:00")
    return moment


@app.command("scope")
def scope(
    out: Annotated[Path, typer.Option("--out", help="Directory for scope.json and scope.csv.")],
    account: Annotated[list[int] | None, typer.Option(
        "--account", help="A provider account's internal id; repeat for several.")] = None,
    session: Annotated[list[str] | None, typer.Option(
        "--session", help="A session id; repeat for several.")] = None,
    address: Annotated[list[str] | None, typer.Option(
        "--address", help="A client address range (CIDR, e.g. 203.0.113.0/24); repeatable.")]
        = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="Start of the window (ISO 8601 with offset), included.")] = None,
    until: Annotated[str | None, typer.Option(
        "--until", help="End of the window, excluded (default: now).")] = None,
    detected_at: Annotated[str | None, typer.Option(
        "--detected-at", help="When the breach became known (default: the first alert on "
                              "these accounts or sessions).")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """List, from the audit log alone, who had which fields disclosed through these
    accounts, sessions or addresses in the window; write it as JSON and CSV."""
    settings = load_settings(data_dir)
    clock = SystemClock()
    with domain_errors():
        selector = Selector(accounts=tuple(account or ()), sessions=tuple(session or ()),
                            addresses=tuple(address or ()))
        if since is None:
            raise InvalidScope("--since", "is required: a scope without a lower bound would "
                                          "read the whole log")
        window = Window(since=parse_moment("--since", since),
                        until=parse_moment("--until", until) if until else clock.now())
        detected = parse_moment("--detected-at", detected_at) if detected_at else None
        scope_files(out)  # refuse an occupied output before reading anything
        with Runtime.open(settings, clock=clock) as runtime, \
                AuditLog(engine=runtime.engine, clock=clock) as audit:
            scoper = BreachScoper(engine=runtime.engine, clock=clock, audit=audit)
            with Progress(SpinnerColumn(), TextColumn("reading the audit log"),
                          TextColumn("{task.completed:,.0f} entries"), TimeElapsedColumn(),
                          console=console, transient=True) as progress:
                task = progress.add_task("scope", total=None)
                result = scoper.compute(selector=selector, window=window, detected_at=detected,
                                        on_progress=lambda n: progress.advance(task, n))
            files = scoper.export(scope=result, out=out)
    counts = result.counts
    typer.echo(f"{counts.persons} persons, {counts.disclosures} disclosures through "
               f"{selector.describe()} between {window.since.isoformat()} and "
               f"{window.until.isoformat()}")
    typer.echo(f"detected at {result.detected_at.isoformat()}"
               + ("" if detected else " (first alert)"))
    for amc, count in counts.by_insurer.items():
        typer.echo(f"  insurer {amc}: {count} persons")
    for name, count in counts.by_field.items():
        typer.echo(f"  field {name}: {count} persons")
    typer.echo(f"wrote {files.json} and {files.csv}")


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
        directory = make_directory(settings)
        try:
            reporter = BreachReporter(directory=directory, clock=SystemClock())
            with Progress(TextColumn("letters"), BarColumn(), TaskProgressColumn(),
                          TextColumn("{task.completed:,.0f} persons"), TimeElapsedColumn(),
                          console=console, transient=True) as progress:
                task = progress.add_task("letters", total=scope.counts.persons)
                summary = reporter.write_report(
                    scope=scope, out=out,
                    contact=ContactPoint(name=dpo_name, contact=dpo_contact),
                    languages=lang.languages, measures=measure or (),
                    on_progress=lambda n: progress.advance(task, n))
        finally:
            close = getattr(directory, "close", None)
            if close is not None:
                close()
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
