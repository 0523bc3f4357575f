"""`rempart keys`: create, inspect and rotate the versioned data keys."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from rempart.audit import AuditLog
from rempart.audit.security_sink import record_operation
from rempart.cli.common import DataDirOption, console, domain_errors, load_settings
from rempart.population.rekey import KeyRotationIncomplete, Rekeyer
from rempart.runtime import Runtime
from rempart.vault import Keyring, KeyringError, Vault
from rempart.vault.rotation import add_version, retire_old_versions

app = typer.Typer(help="Manage the versioned data keys.", no_args_is_help=True)


@app.command("init")
def init(data_dir: DataDirOption = None) -> None:
    """Create the key file (owner-only) if there is none."""
    settings = load_settings(data_dir)
    with domain_errors():
        if settings.key_file.exists():
            raise KeyringError(f"key file {settings.key_file} already exists")
        Keyring.generate().save(settings.key_file)
    console.print(f"created key file {settings.key_file} (mode 600); keep a copy off this host")


@app.command("status")
def status(data_dir: DataDirOption = None) -> None:
    """Show key versions and how many rows still use an old one."""
    settings = load_settings(data_dir)
    with domain_errors(), Runtime.open(settings) as runtime:
        stale = Rekeyer(engine=runtime.engine, vault=runtime.vault).stale_rows()
    keyring = runtime.vault.keyring
    typer.echo(f"versions: {keyring.versions}  current: {keyring.current}  "
               f"rows under older versions: {stale}")


@app.command("rotate")
def rotate(
    data_dir: DataDirOption = None,
    retire: bool = typer.Option(True, help="Retire old versions once every row is re-sealed."),
) -> None:
    """Add a key version, re-seal every row under it while data stays readable, retire the old."""
    settings = load_settings(data_dir)
    with domain_errors(), Runtime.open(settings) as runtime, \
            AuditLog(engine=runtime.engine, clock=runtime.clock) as audit:
        # Recorded before anything changes (fail closed), and again once done.
        record_operation(audit, event="keys.rotation_started",
                         detail={"from_version": runtime.vault.keyring.current})
        keyring = add_version(settings.key_file, now=runtime.clock.now())
        rekeyer = Rekeyer(engine=runtime.engine, vault=Vault(keyring))
        total = rekeyer.stale_rows()
        with Progress(TextColumn("re-sealing"), BarColumn(), TaskProgressColumn(),
                      TextColumn("{task.completed:,.0f} rows"), TimeElapsedColumn(),
                      console=console) as progress:
            task = progress.add_task("rekey", total=total)
            report = rekeyer.rekey(on_progress=lambda n: progress.advance(task, n))
        if retire:
            if rekeyer.stale_rows():
                raise KeyRotationIncomplete("rows still use an old key version; not retiring")
            keyring = retire_old_versions(settings.key_file)
        record_operation(audit, event="keys.rotated", detail={
            "to_version": keyring.current, "contracts": report.contracts,
            "beneficiaries": report.beneficiaries, "retired": retire})
    typer.echo(f"current key version {keyring.current}; re-sealed {report.contracts} contracts "
               f"and {report.beneficiaries} beneficiaries; versions kept: {keyring.versions}")

