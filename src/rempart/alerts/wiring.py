"""Alerts in a served app: the stored-alert sink and the webhook worker started and
stopped with the app.

`install_alerts` checks the webhook configuration at once (a malformed URL stops the app
from starting, with the reason), puts on app.state the `alert_sink` (the AlertSink for the
guard: stored, audited, queued, and the worker nudged) and the `alert_worker` (None
without a webhook: alerts then wait in the outbox), and runs the worker on the app's
lifespan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from rempart.alerts.outbox import AlertOutbox
from rempart.alerts.store import StoredAlertSink
from rempart.alerts.webhook import DeliveryWorker, WebhookConfig, WebhookDelivery
from rempart.audit import AuditLog
from rempart.runtime import Runtime


def build_delivery(runtime: Runtime) -> WebhookDelivery | None:
    """The configured webhook delivery, None without one; WebhookConfigError if malformed."""
    config = WebhookConfig.parse(runtime.settings.alert_webhook_url,
                                 secret=runtime.settings.alert_webhook_secret)
    if config is None:
        return None
    return WebhookDelivery(outbox=AlertOutbox(engine=runtime.engine, clock=runtime.clock),
                           config=config)


def install_alerts(app: FastAPI, runtime: Runtime, *, audit: AuditLog) -> None:
    delivery = build_delivery(runtime)
    worker = DeliveryWorker(delivery) if delivery is not None else None
    app.state.alert_worker = worker
    app.state.alert_sink = StoredAlertSink(engine=runtime.engine, audit=audit,
                                           on_stored=worker.nudge if worker else None)
    if worker is None or delivery is None:
        return
    previous = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        worker.start()
        try:
            async with previous(application):
                yield
        finally:
            worker.stop()
            delivery.close()

    app.router.lifespan_context = lifespan
