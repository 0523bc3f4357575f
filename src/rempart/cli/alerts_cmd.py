"""`rempart alerts drain`: deliver the alerts waiting in the outbox to the webhook now.

A served app does this by itself (a background worker, rempart.alerts.wiring); this is
for an instance that is not serving, or to see what waits. Output is counts only.
"""

from __future__ import annotations

import typer

from rempart.alerts.outbox import AlertOutbox
from rempart.alerts.webhook import WebhookConfigError, WebhookDelivery
from rempart.alerts.wiring import build_delivery
from rempart.cli.common import DataDirOption, domain_errors, load_settings
from rempart.runtime import Runtime

app = typer.Typer(help="Alerts to the operator: webhook delivery.", no_args_is_help=True)


@app.command("drain")
def drain(data_dir: DataDirOption = None) -> None:
    """Try every alert due for delivery once; exit 1 if any delivery failed."""
    settings = load_settings(data_dir)
    with domain_errors(), Runtime.open(settings) as runtime:
        delivery: WebhookDelivery | None = build_delivery(runtime)
        if delivery is None:
            raise WebhookConfigError("no webhook configured: set REMPART_ALERT_WEBHOOK_URL")
        try:
            result = delivery.drain()
        finally:
            delivery.close()
        waiting = AlertOutbox(engine=runtime.engine, clock=runtime.clock).pending()
    typer.echo(f"{result.delivered} delivered, {result.failed} failed, {waiting} waiting")
    if result.failed:
        raise typer.Exit(code=1)
