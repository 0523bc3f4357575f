"""The service's Prometheus metrics, and the small functions that record them.

Other packages record through these functions, never through prometheus-client
directly, so every label value passes through here. Labels are closed vocabularies
(an outcome, a status, a guard action, an alert source and severity, a route
template): never a path, an identifier or anything a caller typed. A value outside the
vocabulary's shape is counted as "other".

Multi-worker: when PROMETHEUS_MULTIPROC_DIR is set before the process starts, every
worker writes its samples to files in that directory and /metrics sums them
(prometheus-client's multiprocess mode, see docs/deploy.md).

Audit entries and alerts are written inside transactions: they are counted when their
transaction commits (SQLAlchemy's commit event, on every engine), never for a
transaction rolled back.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import Connection, Engine, event

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_WORD = re.compile(r"[a-z][a-z0-9_]{0,39}")
OTHER = "other"

CHECKS = Counter("rempart_checks", "Coverage checks committed, by internal outcome.",
                 ["outcome"])
CLAIMS = Counter("rempart_claims", "Claims decided, by status and rejection reason.",
                 ["status", "reason"])
GUARD_DECISIONS = Counter("rempart_guard_decisions",
                          "Exfiltration guard decisions, by action.", ["action"])
ALERTS = Counter("rempart_alerts", "Alerts raised, by source and severity.",
                 ["source", "severity"])
AUDIT_ENTRIES = Counter("rempart_audit_entries", "Audit log entries committed.")
HTTP_SECONDS = Histogram(
    "rempart_http_request_duration_seconds",
    "HTTP request latency, by method, route template and status.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))

_PENDING = "rempart.metrics.pending"  # per-connection counts awaiting their commit


def label(value: object) -> str:
    """A label value from a closed vocabulary: a short lower-case word, else "other"."""
    text = str(getattr(value, "value", value)).lower()
    return text if _WORD.fullmatch(text) else OTHER


def record_checks(outcomes: Iterable[object]) -> None:
    """Count committed checks by outcome (a CheckOutcome or its value)."""
    counts: dict[object, int] = {}
    for outcome in outcomes:  # a batch holds a few outcomes: each labelled once
        counts[outcome] = counts.get(outcome, 0) + 1
    for outcome, count in counts.items():
        CHECKS.labels(label(outcome)).inc(count)


def record_claim(*, status: object, reason: object | None) -> None:
    CLAIMS.labels(label(status), "none" if reason is None else label(reason)).inc()


def record_guard_decision(action: object) -> None:
    """Count one guard decision (for the guard's wiring): allow, delay, step_up, ..."""
    GUARD_DECISIONS.labels(label(action)).inc()


def on_commit(conn: Connection, counter: str, amount: int = 1, *labels: str) -> None:
    """Count `amount` on a counter once the connection's transaction commits."""
    pending: dict[tuple[str, tuple[str, ...]], int] = conn.info.setdefault(_PENDING, {})
    key = (counter, labels)
    pending[key] = pending.get(key, 0) + amount


def record_audit_entries(conn: Connection, count: int) -> None:
    """Audit entries written in the connection's transaction, counted at its commit."""
    on_commit(conn, "audit", count)


def record_alert_on_commit(conn: Connection, *, source: object, severity: object) -> None:
    on_commit(conn, "alerts", 1, label(source), label(severity))


_COUNTERS = {"audit": AUDIT_ENTRIES, "alerts": ALERTS}


def _committed(conn: Connection) -> None:
    pending = conn.info.pop(_PENDING, None)
    if not pending:
        return
    for (name, labels), amount in pending.items():
        counter: Any = _COUNTERS[name]
        (counter.labels(*labels) if labels else counter).inc(amount)


def _rolled_back(conn: Connection) -> None:
    if conn.invalidated:
        # The server dropped the connection (restarted, say): its `info` went with it, and
        # touching it here would raise over the error that caused the rollback.
        return
    conn.info.pop(_PENDING, None)


# Every engine of the process: a commit costs one dict look-up more.
event.listen(Engine, "commit", _committed)
event.listen(Engine, "rollback", _rolled_back)


def exposition() -> bytes:
    """This process's metrics, or every worker's when PROMETHEUS_MULTIPROC_DIR is set."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)
