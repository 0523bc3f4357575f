"""`rempart doctor`: check a deployment's configuration and say what to fix.

Exit 0 when nothing is found, 1 with one line per problem and its fix otherwise. The
settings are read as the server reads them (REMPART_* and --data-dir).
"""

from __future__ import annotations

import typer

from rempart.cli.common import DataDirOption, console, domain_errors, load_settings
from rempart.observability.doctor import diagnose
from rempart.observability.doctor_instance import diagnose_instance


def doctor(data_dir: DataDirOption = None) -> None:
    """Check a deployment's keys, secrets, shared state, TLS, proxies and PostgreSQL slots."""
    with domain_errors():
        settings = load_settings(data_dir)
        findings = [*diagnose(settings), *diagnose_instance(settings)]
    if not findings:
        console.print("doctor: no problem found")
        return
    for finding in findings:
        console.print(f"[bold red]{finding.check}:[/] {finding.problem}\n    fix: {finding.fix}",
                      highlight=False, soft_wrap=True)
    console.print(f"doctor: {len(findings)} problem(s) to fix")
    raise typer.Exit(code=1)
