"""Delivering stored alerts to the operator's webhook, as OCSF Detection Findings.

    config = WebhookConfig.parse(settings.alert_webhook_url)  # refused at start if malformed
    delivery = WebhookDelivery(outbox=outbox, config=config)
    delivery.drain()            # one pass: every due alert tried once
    worker = DeliveryWorker(delivery); worker.start(); ...; worker.stop()

Each alert is POSTed alone as JSON; any 2xx answer delivers it, anything else (a
refusal, a time-out, no answer) leaves it in the outbox for a later try. With a shared
secret, each request is signed so that the receiver knows it comes from rempart:
`X-Rempart-Timestamp: <unix seconds>` and
`X-Rempart-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`. What is logged
about a failure is the alert id and the kind of failure, never the payload.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import orjson
import structlog

from rempart import __version__
from rempart.alerts.ocsf import detection_finding
from rempart.alerts.outbox import AlertOutbox, retry_delay
from rempart.core.errors import RempartError

log = structlog.get_logger(__name__)
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_POLL_S = 2.0
BATCH = 50
MAX_URL = 2000
MIN_SECRET_BYTES = 32
LEASE_MARGIN_S = 30.0


class WebhookConfigError(RempartError):
    """The alert webhook's configuration cannot be used; says what to fix."""


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    url: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    secret: bytes | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str | None, *, timeout_s: float = DEFAULT_TIMEOUT_S,
              secret: str | None = None) -> WebhookConfig | None:
        """None when no webhook is configured; WebhookConfigError when the URL is unusable.

        HTTPS is required, except to a loopback address (a local relay, tests): alerts
        must not cross a network in clear text."""
        if url is None or not url.strip():
            return None
        url = url.strip()
        if len(url) > MAX_URL or any(c.isspace() or ord(c) < 32 for c in url):
            raise WebhookConfigError("REMPART_ALERT_WEBHOOK_URL is not a URL")
        parts = urlsplit(url)
        try:
            _ = parts.port  # urlsplit checks the port only when asked
        except ValueError:
            raise WebhookConfigError("REMPART_ALERT_WEBHOOK_URL has an invalid port") from None
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise WebhookConfigError("REMPART_ALERT_WEBHOOK_URL must be an https:// URL "
                                     "with a host")
        if parts.username or parts.password:
            raise WebhookConfigError("REMPART_ALERT_WEBHOOK_URL must not carry credentials "
                                     "in the URL")
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise WebhookConfigError("REMPART_ALERT_WEBHOOK_URL must use https:// (plain "
                                     "http is accepted only to a loopback address)")
        if not 0 < timeout_s <= 60:
            raise WebhookConfigError("the webhook time-out must be between 0 and 60 seconds")
        if secret is not None and len(secret.encode()) < MIN_SECRET_BYTES:
            raise WebhookConfigError(f"REMPART_ALERT_WEBHOOK_SECRET must be at least "
                                     f"{MIN_SECRET_BYTES} bytes")
        return cls(url=url, timeout_s=timeout_s,
                   secret=secret.encode() if secret is not None else None)

    def headers(self, body: bytes, *, now: float) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if self.secret is not None:
            stamp = str(int(now))
            mac = hmac.new(self.secret, stamp.encode() + b"." + body, hashlib.sha256)
            headers |= {"x-rempart-timestamp": stamp,
                        "x-rempart-signature": f"v1={mac.hexdigest()}"}
        return headers


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class DrainResult:
    delivered: int
    failed: int


class WebhookDelivery:
    def __init__(self, *, outbox: AlertOutbox, config: WebhookConfig,
                 client: httpx.Client | None = None) -> None:
        self._outbox = outbox
        self._config = config
        self._client = client or httpx.Client(timeout=config.timeout_s,
                                              follow_redirects=False)
        self._lock = threading.Lock()

    def drain(self) -> DrainResult:
        """Try every due alert once; never raises for delivery trouble."""
        delivered = failed = 0
        with self._lock:  # one drain at a time: an alert is posted once per attempt
            for pending in self._outbox.due(limit=BATCH):
                if not self._outbox.claim(pending.alert.id,
                                          lease_s=self._config.timeout_s + LEASE_MARGIN_S):
                    continue  # another process took it
                body = orjson.dumps(detection_finding(pending.alert,
                                                      product_version=__version__))
                error = self._post(body)
                if error is None:
                    self._outbox.delivered(pending.alert.id)
                    delivered += 1
                    continue
                attempts = pending.attempts + 1
                self._outbox.failed(pending.alert.id, attempts=attempts, error=error,
                                    delay_s=retry_delay(attempts))
                log.warning("alert delivery failed", alert_id=pending.alert.id,
                            attempts=attempts, error=error)
                failed += 1
        return DrainResult(delivered=delivered, failed=failed)

    def close(self) -> None:
        self._client.close()

    def _post(self, body: bytes) -> str | None:
        try:
            answer = self._client.post(self._config.url, content=body,
                                       headers=self._config.headers(body, now=time.time()))
        except httpx.HTTPError as exc:
            return type(exc).__name__
        return None if answer.is_success else f"http {answer.status_code}"


class DeliveryWorker:
    """A daemon thread that drains the outbox every `poll_s` seconds, or at once when
    nudged (a new alert was stored), until stopped."""

    def __init__(self, delivery: WebhookDelivery, *, poll_s: float = DEFAULT_POLL_S) -> None:
        self._delivery = delivery
        self._poll_s = poll_s
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="rempart-alert-webhook",
                                            daemon=True)
            self._thread.start()

    def nudge(self) -> None:
        self._wake.set()

    def stop(self, *, timeout_s: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._delivery.drain()
            except Exception as exc:
                log.warning("alert outbox unavailable", error_type=type(exc).__name__)
            self._wake.wait(self._poll_s)
            self._wake.clear()
