"""`rempart demo`: build a local instance once, then serve the portal and the API on it.

The first run generates a synthetic population, creates the keys and imports it (with
progress bars); later runs reuse the instance in the same directory. The server listens
on 127.0.0.1 only, and the address printed is http://localhost:P, the name that
WebAuthn (passkeys) accepts. Nothing personal is printed: the example patient is
written to a file that only its owner can read, and the printed command sends it.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from rempart.audit.signing import create_signing_key
from rempart.bench.example_check import write_example_check
from rempart.bench.instance import LocalInstance
from rempart.cli.common import DataDirOption, console, domain_errors, load_settings
from rempart.cli.instance_progress import build_instance_with_progress
from rempart.observability.logs import configure_logging
from rempart.portal.demo import DemoLogin, demo_settings, ensure_demo_account
from rempart.runtime import Runtime
from rempart.web.app import create_app
from rempart.web.identity import DEMO_HEADER, DemoHeaderIdentity

HOST = "127.0.0.1"  # loopback only: the demo identity header can be forged by anyone


def demo(
    data_dir: DataDirOption = None,
    people: Annotated[int, typer.Option(
        "--people", min=1, help="Persons to generate on the first run.")] = 300_000,
    port: Annotated[int, typer.Option("--port", min=1, max=65535,
                                      help="Port on 127.0.0.1.")] = 8000,
    seed: Annotated[int, typer.Option("--seed", help="Population seed (first run).")] = 1,
) -> None:
    """Build (once) and serve a local instance over a synthetic population."""
    # Demo mode (the API's identity header) is an explicit override, here only; the
    # portal's settings for plain HTTP on localhost come from the portal.
    settings = demo_settings(dataclasses.replace(load_settings(data_dir), demo_mode=True),
                             port=port)
    with domain_errors():
        instance = build_instance_with_progress(settings=settings, people=people, seed=seed)
        if not settings.audit_signing_key.exists():  # checkpoints, and /readyz, need it
            create_signing_key(settings.audit_signing_key)
        runtime = Runtime.open(settings)
        login = ensure_demo_account(runtime)
        example = write_example_check(instance, today=runtime.clock.now().date())
        app = create_app(runtime, identity_source=DemoHeaderIdentity(
            settings=runtime.settings, engine=runtime.engine))
    _print_welcome(instance, people, port, example, login)
    configure_logging("console", level=logging.WARNING)
    try:
        uvicorn.run(app, host=HOST, port=port, log_level="warning", access_log=False,
                    log_config=None)
    finally:
        runtime.close()


def _print_welcome(instance: LocalInstance, asked: int, port: int, example: Path,
                   login: DemoLogin) -> None:
    base = f"http://localhost:{port}"
    state = "built" if instance.imported else "reused"
    console.print(f"[bold]rempart demo[/]: instance {state} in {instance.directory} — "
                  f"{instance.people:,} synthetic insured persons "
                  f"({'SQLite' if instance.settings.is_sqlite else 'PostgreSQL'})")
    if not instance.generated and instance.people != asked:
        console.print(f"(--people {asked:,} ignored: the instance exists; use another "
                      "--data-dir for another size)")
    console.print(f"\nServing on [bold]{base}[/] (127.0.0.1 only; open it as localhost, "
                  "which passkeys need). Ctrl-C stops it.")
    for line in login.lines(base):  # demo credentials, not personal data
        console.print(line, markup=False, highlight=False)
    console.print(f"API: {base}/api/v1/docs — in demo mode the API also takes the header "
                  f"{_header_name()} naming the organisation (loopback only: anyone could "
                  "forge it; practice software uses DPoP tokens).")
    console.print(f"\nFirst check (the example patient is in {example}, readable only "
                  "by you):")
    # Printed without Rich markup so that the command can be copied as is.
    print(f"curl -s {base}/api/v1/checks -H 'Content-Type: application/json' "
          f"-H '{_header_name()}: {login.organisation_id}' --data @{example}", flush=True)


def _header_name() -> str:
    return "-".join(part.capitalize() for part in DEMO_HEADER.split("-"))
