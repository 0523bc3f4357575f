"""`rempart audit`: verify, checkpoint, export and archive the tamper-evident audit log.

`verify` exits 0 when the log is intact, 1 naming the first bad position when it is
not, and 2 (like every command) when it cannot run: a missing key, an unreadable file.
It never migrates nor writes anything.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine

from rempart.audit import (
    Archiver,
    AuditLog,
    Checkpointer,
    SigningKey,
    SigningKeyError,
    TrustedKeys,
    VerificationReport,
    Verifier,
    VerifyKey,
    WebhookExporter,
    export_to_file,
    read_checkpoint_file,
    verify_archive,
)
from rempart.audit.bench import measure
from rempart.audit.export import stored_checkpoints
from rempart.audit.signing import create_signing_key, public_key_path
from rempart.audit.store import read_head, require_schema
from rempart.cli.common import DataDirOption, console, domain_errors, load_settings
from rempart.clock import SystemClock
from rempart.settings import Settings
from rempart.storage.engine import make_engine
from rempart.storage.migrate import upgrade

app = typer.Typer(help="The tamper-evident audit log: verify, checkpoint, export, archive.",
                  no_args_is_help=True)

PublicKeyOption = Annotated[
    list[Path] | None,
    typer.Option("--public-key", help="PEM public key to verify signatures with (repeatable; "
                                      "default: the signing key's, or <key>.pub)."),
]
WebhookOption = Annotated[
    str | None, typer.Option("--webhook", help="POST the checkpoints to this https URL.")]


@contextmanager
def _engine(settings: Settings, *, migrate: bool) -> Iterator[Engine]:
    engine = make_engine(settings)
    try:
        if migrate:
            upgrade(engine)
        yield engine
    finally:
        engine.dispose()


def _trusted(settings: Settings, public_keys: list[Path] | None) -> TrustedKeys:
    if public_keys:
        return TrustedKeys(VerifyKey.load(path) for path in public_keys)
    key_path = settings.audit_signing_key
    try:
        return TrustedKeys([SigningKey.load(key_path).verify_key])
    except SigningKeyError:
        if public_key_path(key_path).exists():
            return TrustedKeys([VerifyKey.load(public_key_path(key_path))])
        raise


def _with_previous(key: SigningKey, public_keys: list[Path] | None) -> TrustedKeys:
    """The current key, plus earlier keys still trusted for older checkpoints."""
    return TrustedKeys([key.verify_key, *(VerifyKey.load(path) for path in public_keys or ())])


def _progress(label: str) -> Progress:
    return Progress(TextColumn(label), BarColumn(), TaskProgressColumn(),
                    TextColumn("{task.completed:,.0f} entries"), TimeElapsedColumn(),
                    console=console, transient=True)


def _print_report(report: VerificationReport) -> None:
    typer.echo(report.summary())
    for problem in report.problems[1:20]:
        typer.echo(f"  position {problem.position}: {problem.message}")
    if len(report.problems) > 20:
        typer.echo(f"  ... {len(report.problems) - 20} more")
    if not report.ok:
        raise typer.Exit(code=1)


@app.command("keygen")
def keygen(data_dir: DataDirOption = None) -> None:
    """Create the Ed25519 checkpoint signing key (owner-only) and its public key beside it."""
    settings = load_settings(data_dir)
    key_path = settings.audit_signing_key
    with domain_errors():
        key = create_signing_key(key_path)
    console.print(f"created audit signing key {key_path} (mode 600), key id {key.key_id}; "
                  f"give {public_key_path(key_path).name} to whoever verifies the log")


@app.command("verify")
def verify(
    data_dir: DataDirOption = None,
    against: Annotated[Path | None, typer.Option(
        "--against", help="Also check the database against this exported checkpoint file.")
    ] = None,
    archive: Annotated[Path | None, typer.Option(
        "--archive", help="Verify this archive file (and its .seal) instead of the database.")
    ] = None,
    public_key: PublicKeyOption = None,
) -> None:
    """Recompute the whole chain and check every checkpoint and seal signature."""
    settings = load_settings(data_dir)
    with domain_errors():
        trusted = _trusted(settings, public_key)
        if archive is not None:
            report = verify_archive(archive, trusted)
        else:
            exported = read_checkpoint_file(against, trusted) if against else None
            with _engine(settings, migrate=False) as engine:
                require_schema(engine)
                with engine.connect() as conn:
                    head = read_head(conn)
                with _progress("verifying") as progress:
                    task = progress.add_task("verify", total=head.position - head.archived_through)
                    report = Verifier(engine=engine, trusted_keys=trusted).verify(
                        exported=exported, on_progress=lambda n: progress.advance(task, n))
    _print_report(report)


@app.command("checkpoint")
def checkpoint(
    data_dir: DataDirOption = None,
    export_to: Annotated[Path | None, typer.Option(
        "--export-to", help="Then append the new checkpoints to this file.")] = None,
    webhook: WebhookOption = None,
    public_key: PublicKeyOption = None,
) -> None:
    """Sign a checkpoint over every entry appended since the last one."""
    settings = load_settings(data_dir)
    with domain_errors(), _engine(settings, migrate=True) as engine:
        key = SigningKey.load(settings.audit_signing_key)
        trusted = _with_previous(key, public_key)
        made = Checkpointer(engine=engine, clock=SystemClock(), signing_key=key,
                            trusted_keys=trusted).checkpoint()
        if made:
            typer.echo(f"signed {len(made)} checkpoint(s): numbers {made[0].number}.."
                       f"{made[-1].number}, positions {made[0].first}..{made[-1].last}")
        else:
            typer.echo("nothing new to checkpoint")
        if export_to is not None:
            added = export_to_file(export_to, stored_checkpoints(engine, trusted))
            typer.echo(f"exported {added} checkpoint(s) to {export_to}")
        if webhook is not None and made:
            WebhookExporter(url=webhook).send(made)
            typer.echo(f"sent {len(made)} checkpoint(s) to the webhook")


@app.command("export")
def export(
    data_dir: DataDirOption = None,
    to: Annotated[Path | None, typer.Option(
        "--to", help="Append the checkpoints this file lacks (JSON lines).")] = None,
    webhook: WebhookOption = None,
    from_number: Annotated[int, typer.Option(
        "--from", min=1, help="With --webhook: send checkpoints from this number on.")] = 1,
    public_key: PublicKeyOption = None,
) -> None:
    """Copy the signed checkpoints out of the database's reach: a file, a webhook."""
    if to is None and webhook is None:
        console.print("[bold red]error:[/] give --to FILE or --webhook URL")
        raise typer.Exit(code=2)
    settings = load_settings(data_dir)
    with domain_errors(), _engine(settings, migrate=False) as engine:
        checkpoints = stored_checkpoints(engine, _trusted(settings, public_key))
        if to is not None:
            typer.echo(f"exported {export_to_file(to, checkpoints)} new checkpoint(s) to {to}")
        if webhook is not None:
            chosen = [cp for cp in checkpoints if cp.number >= from_number]
            WebhookExporter(url=webhook).send(chosen)
            typer.echo(f"sent {len(chosen)} checkpoint(s) to the webhook")


@app.command("archive")
def archive(
    older_than: Annotated[int, typer.Option(
        "--older-than", min=0, help="Archive checkpointed entries older than this many days.")],
    to: Annotated[Path, typer.Option("--to", help="Directory for the archive files.")],
    data_dir: DataDirOption = None,
    public_key: PublicKeyOption = None,
) -> None:
    """Move old entries, with their checkpoints, to a verifiable archive file."""
    settings = load_settings(data_dir)
    clock = SystemClock()
    with domain_errors(), _engine(settings, migrate=True) as engine:
        key = SigningKey.load(settings.audit_signing_key)
        seal = Archiver(engine=engine, clock=clock, signing_key=key,
                        trusted_keys=_with_previous(key, public_key)).archive(
            older_than=dt.timedelta(days=older_than), directory=to)
        if seal is None:
            typer.echo("nothing to archive: no whole checkpoint range is old enough")
            return
        with AuditLog(engine=engine, clock=clock) as log:
            # The seal number, not the digest: a hex digest can hold a run of 13 digits,
            # which the audit log refuses as a possible identifier; the seal signs the digest.
            log.append(event="audit.archived", detail={
                "first": seal.first, "last": seal.last, "seal": seal.number})
    typer.echo(f"archived positions {seal.first}..{seal.last} to {to / seal.file_name} "
               f"(seal {seal.number}, sha256 {seal.file_sha256.hex()})")


@app.command("bench")
def bench(
    entries: Annotated[int, typer.Option(min=10, help="Entries appended concurrently.")] = 20_000,
    threads: Annotated[int, typer.Option(min=1, help="Appending threads.")] = 8,
    database_url: Annotated[str | None, typer.Option(
        help="An EMPTY scratch database to bench on (default: a temporary SQLite file).")
    ] = None,
) -> None:
    """Measure appends per second (one thread, then group commit) and verification speed."""
    with tempfile.TemporaryDirectory(prefix="rempart-audit-bench-") as scratch:
        settings = Settings.load(data_dir=Path(scratch),
                                 **({"database_url": database_url} if database_url else {}))
        with domain_errors(), _engine(settings, migrate=True) as engine:
            with engine.connect() as conn:
                if read_head(conn).position:
                    console.print("[bold red]error:[/] the bench needs an empty database")
                    raise typer.Exit(code=2)
            figures = measure(engine=engine, clock=SystemClock(), entries=entries,
                              threads=threads)
    typer.echo(orjson.dumps(figures).decode())
