"""Alerts to the operator's webhook: OCSF Detection Findings through a durable outbox,
against a real local HTTP server that fails then succeeds, and one that is not there."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from rempart.alerts.outbox import AlertOutbox, retry_delay
from rempart.alerts.store import AlertSource, AlertStore, StoredAlertSink
from rempart.alerts.webhook import (
    DeliveryWorker,
    WebhookConfig,
    WebhookConfigError,
    WebhookDelivery,
)
from rempart.audit import AuditLog
from rempart.cli.main import app as cli
from rempart.clock import ManualClock
from rempart.guard.alerts import Alert
from rempart.guard.context import Channel
from rempart.guard.decision import Action
from rempart.runtime import Runtime
from rempart.web import create_app
from settings_support import sqlite_settings

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
REASONS = ("312 checks in 40 min, 30x this pharmacy's usual",)


class Receiver:
    """A tiny webhook: answers 503 to the first `failures` posts, then 204."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.bodies: list[dict[str, Any]] = []
        self.signed: list[tuple[bytes, str | None, str | None]] = []
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.signed.append((body, self.headers.get("x-rempart-timestamp"),
                                        self.headers.get("x-rempart-signature")))
                receiver.attempts += 1
                if receiver.attempts <= receiver.failures:
                    self.send_response(503)
                else:
                    receiver.bodies.append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(failures=2)
    yield found
    found.close()


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def store_guard_alert(engine: Engine, clock: ManualClock, account: str = "17") -> None:
    with AuditLog(engine=engine, clock=clock) as audit:
        StoredAlertSink(engine=engine, audit=audit).emit(Alert(
            account_id=account, organisation_id="3", session_id="portal:42",
            action=Action.SUSPEND_ACCOUNT, reasons=REASONS, score=41.7, at=clock.now(),
            channel=Channel.PORTAL))


def delivery_for(engine: Engine, clock: ManualClock, url: str,
                 secret: str | None = None) -> WebhookDelivery:
    config = WebhookConfig.parse(url, timeout_s=2, secret=secret)
    assert config is not None
    return WebhookDelivery(outbox=AlertOutbox(engine=engine, clock=clock), config=config)


def test_a_failing_webhook_gets_the_alert_once_it_recovers(runtime: Runtime,
                                                           receiver: Receiver) -> None:
    clock = ManualClock(START)
    store_guard_alert(runtime.engine, clock)
    outbox = AlertOutbox(engine=runtime.engine, clock=clock)
    assert outbox.pending() == 1

    first = delivery_for(runtime.engine, clock, receiver.url)
    assert first.drain().failed == 1
    assert first.drain().failed == 0  # not due again before its delay
    first.close()
    # A restart: new objects over the same database find the alert still waiting.
    clock.advance(retry_delay(1) * 2)
    second = delivery_for(runtime.engine, clock, receiver.url)
    assert second.drain().failed == 1
    clock.advance(retry_delay(2) * 2)
    assert second.drain().delivered == 1
    second.close()
    assert outbox.pending() == 0
    assert receiver.attempts == 3

    [finding] = receiver.bodies
    assert finding["class_uid"] == 2004
    assert finding["category_uid"] == 2
    assert finding["type_uid"] == 200401
    assert finding["severity_id"] == 5
    assert finding["time"] == int(START.timestamp() * 1000)
    assert finding["finding_info"]["uid"].startswith("rempart-alert-")
    assert finding["finding_info"]["desc"] == REASONS[0]
    assert finding["metadata"]["product"]["name"] == "rempart"
    assert finding["unmapped"] == {"account_id": "17", "organisation_id": "3",
                                   "session_id": "portal:42", "channel": "portal",
                                   "action": "suspend_account", "score": 41.7}


def test_an_unreachable_webhook_keeps_every_alert(runtime: Runtime) -> None:
    clock = ManualClock(START)
    for account in ("1", "2", "3"):
        store_guard_alert(runtime.engine, clock, account)
    delivery = delivery_for(runtime.engine, clock, f"http://127.0.0.1:{unused_port()}/x")
    for _ in range(4):
        result = delivery.drain()
        assert result.delivered == 0
        clock.advance(3600)
    delivery.close()
    outbox = AlertOutbox(engine=runtime.engine, clock=clock)
    assert outbox.pending() == 3
    assert [p.attempts for p in outbox.due()] == [4, 4, 4]


def test_member_reports_are_queued_too(runtime: Runtime, receiver: Receiver) -> None:
    clock = ManualClock(START)
    with runtime.engine.begin() as conn:
        AlertStore.insert(conn, source=AlertSource.MEMBER_REPORT, severity="high",
                          created_at=clock.now(), reasons=["reported by the person"],
                          account_id=5, organisation_id=2, check_reference="R" * 26)
    receiver.failures = 0
    delivery = delivery_for(runtime.engine, clock, receiver.url)
    assert delivery.drain().delivered == 1
    delivery.close()
    assert receiver.bodies[0]["unmapped"]["check_reference"] == "R" * 26
    assert receiver.bodies[0]["severity_id"] == 4


def test_the_worker_delivers_in_the_background_and_stops(runtime: Runtime,
                                                         receiver: Receiver) -> None:
    receiver.failures = 0
    clock = ManualClock(START)
    delivery = delivery_for(runtime.engine, clock, receiver.url)
    worker = DeliveryWorker(delivery, poll_s=0.05)
    worker.start()
    try:
        store_guard_alert(runtime.engine, clock)
        worker.nudge()
        outbox = AlertOutbox(engine=runtime.engine, clock=clock)
        for _ in range(200):
            if outbox.pending() == 0:
                break
            threading.Event().wait(0.05)
        assert outbox.pending() == 0
    finally:
        worker.stop()
        delivery.close()
    assert not any(t.name == "rempart-alert-webhook" for t in threading.enumerate())
    assert len(receiver.bodies) == 1


@pytest.mark.parametrize("url", [
    "ftp://alerts.example/x", "not a url", "https://", "http://alerts.example/hook",
    "https://user:pw@alerts.example/hook", "https://alerts.example:99999/hook"])
def test_a_malformed_webhook_is_refused_at_start(url: str, tmp_path: Path) -> None:
    with pytest.raises(WebhookConfigError):
        WebhookConfig.parse(url)
    settings = dataclasses.replace(sqlite_settings(tmp_path), alert_webhook_url=url)
    runtime = Runtime.open(settings, create_keys=True)
    try:
        with pytest.raises(WebhookConfigError, match="REMPART_ALERT_WEBHOOK_URL"):
            create_app(runtime)
    finally:
        runtime.close()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_shared_secret_signs_each_request(runtime: Runtime, receiver: Receiver) -> None:
    receiver.failures = 0
    secret = "s" * 40
    store_guard_alert(runtime.engine, ManualClock(START))
    delivery = delivery_for(runtime.engine, ManualClock(START), receiver.url, secret)
    assert delivery.drain().delivered == 1
    delivery.close()
    [(body, stamp, signature)] = receiver.signed
    assert stamp is not None
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    assert signature == f"v1={expected.hexdigest()}"
    unsigned = WebhookConfig.parse(receiver.url)
    assert unsigned is not None
    assert "x-rempart-signature" not in unsigned.headers(body, now=0)
    with pytest.raises(WebhookConfigError, match="at least 32 bytes"):
        WebhookConfig.parse(receiver.url, secret="short")
    assert secret not in repr(WebhookConfig.parse(receiver.url, secret=secret))


def test_https_and_loopback_webhooks_are_accepted() -> None:
    assert WebhookConfig.parse(None) is None
    assert WebhookConfig.parse("  ") is None
    for url in ("https://siem.example/hook", "http://127.0.0.1:8080/x", "http://localhost/x"):
        config = WebhookConfig.parse(url)
        assert config is not None
        assert config.url == url


def test_the_retry_delay_doubles_up_to_a_ceiling() -> None:
    delays = [retry_delay(n, base=2, ceiling=60, jitter=_NoJitter()) for n in range(1, 9)]
    assert delays == [2, 4, 8, 16, 32, 60, 60, 60]


class _NoJitter:
    def random(self) -> float:
        return 0.0


def test_the_drain_command_delivers_what_waits(runtime: Runtime, receiver: Receiver,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    store_guard_alert(runtime.engine, ManualClock(START))
    monkeypatch.setenv("REMPART_DATABASE_URL", runtime.settings.database_url)
    data_dir = ["--data-dir", str(runtime.settings.data_dir)]
    monkeypatch.setenv("REMPART_ALERT_WEBHOOK_URL", receiver.url)
    failed = CliRunner().invoke(cli, ["alerts", "drain", *data_dir])  # answers 503 first
    assert failed.exit_code == 1
    assert "0 delivered, 1 failed, 1 waiting" in failed.output
    monkeypatch.setenv("REMPART_ALERT_WEBHOOK_URL", "http://alerts.example/hook")
    refused = CliRunner().invoke(cli, ["alerts", "drain", *data_dir])
    assert refused.exit_code == 2
    assert "must use https://" in refused.output
    assert AlertOutbox(engine=runtime.engine, clock=ManualClock(START)).pending() == 1


def test_the_served_app_delivers_by_itself_and_stops_its_worker(
        tmp_path: Path, receiver: Receiver) -> None:
    receiver.failures = 0
    settings = dataclasses.replace(sqlite_settings(tmp_path), alert_webhook_url=receiver.url)
    runtime = Runtime.open(settings, create_keys=True)
    try:
        app = create_app(runtime)

        async def serve() -> None:  # what uvicorn does around the requests
            async with app.router.lifespan_context(app):
                app.state.alert_sink.emit(Alert(
                    account_id="8", organisation_id="2", session_id="portal:5",
                    action=Action.STEP_UP, reasons=REASONS, score=12.0, at=START,
                    channel=Channel.API))
                for _ in range(200):
                    if receiver.bodies:
                        break
                    await asyncio.sleep(0.05)

        asyncio.run(serve())
        assert [body["unmapped"]["account_id"] for body in receiver.bodies] == ["8"]
        assert receiver.bodies[0]["severity_id"] == 2
        assert not any(t.name == "rempart-alert-webhook" for t in threading.enumerate())
    finally:
        runtime.close()


def test_two_processes_draining_one_outbox_post_each_alert_once(
        runtime: Runtime, receiver: Receiver) -> None:
    receiver.failures = 0
    clock = ManualClock(START)
    for account in range(1, 9):
        store_guard_alert(runtime.engine, clock, str(account))
    deliveries = [delivery_for(runtime.engine, clock, receiver.url) for _ in range(2)]
    threads = [threading.Thread(target=d.drain) for d in deliveries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for delivery in deliveries:
        delivery.close()
    uids = [body["finding_info"]["uid"] for body in receiver.bodies]
    assert len(uids) == 8
    assert len(set(uids)) == 8
    assert AlertOutbox(engine=runtime.engine, clock=clock).pending() == 0
