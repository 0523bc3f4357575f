"""Putting operations into an app, in one call: health, readiness, metrics, the trusted
proxies' client addresses and the shutdown flush (the request latency is observed by
the edge layer, rempart.web.edge)."""

from __future__ import annotations

from fastapi import FastAPI

from rempart.audit import AuditLog
from rempart.audit.security_sink import AuditSecurityEventSink
from rempart.coverage.service import CheckService
from rempart.observability.lifespan import Closes, StartsWriter, with_writers_stopped
from rempart.observability.readiness import ReadinessProbe
from rempart.observability.routes import install_operation_routes
from rempart.runtime import Runtime
from rempart.web.networks import parse_networks
from rempart.web.proxies import TrustedProxyMiddleware


def install_operations(app: FastAPI, runtime: Runtime, *, audit: AuditLog,
                       check_service: CheckService, security_events: object) -> None:
    """Operations routes, the trusted proxies' middleware, the shutdown flush; the request
    latency is observed by the app's edge layer (rempart.web.edge)."""
    probe = ReadinessProbe(runtime)
    install_operation_routes(app, probe=probe, metrics_allow=runtime.settings.metrics_allow)
    closing: list[Closes] = [audit, probe]
    writers: list[StartsWriter] = [audit]
    if runtime.guard_snapshots is not None:  # the guard's last snapshot, before the engine
        closing.insert(0, runtime.guard_snapshots)
        writers.append(runtime.guard_snapshots)
    if isinstance(security_events, AuditSecurityEventSink):  # its own audit log's writer
        closing.append(security_events)
        writers.append(security_events)
    app.router.lifespan_context = with_writers_stopped(
        app.router.lifespan_context, drain=[check_service], close=closing, start=writers)
    if runtime.settings.trusted_proxies:
        app.add_middleware(TrustedProxyMiddleware, networks=parse_networks(
            "REMPART_TRUSTED_PROXIES", runtime.settings.trusted_proxies),
            network_header=runtime.settings.network_header)
