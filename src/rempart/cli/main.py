"""`rempart`: the command-line entry point; each command group lives in its own module."""

from __future__ import annotations

import typer

from rempart.cli import (
    alerts_cmd,
    audit_cmd,
    bench_cmd,
    breach_cmd,
    demo_cmd,
    doctor_cmd,
    drill_cmd,
    import_cmd,
    insurers_cmd,
    keys_cmd,
    synth_cmd,
)

app = typer.Typer(
    name="rempart",
    help="Coverage verification for third-party-payment health insurance.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("demo")(demo_cmd.demo)
app.command("doctor")(doctor_cmd.doctor)
app.command("drill")(drill_cmd.drill)
app.command("synth")(synth_cmd.synth)
app.command("import")(import_cmd.import_files)
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(bench_cmd.app, name="bench")
app.add_typer(breach_cmd.app, name="breach")
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(insurers_cmd.app, name="insurers")
app.add_typer(alerts_cmd.app, name="alerts")


def main() -> None:
    app()
