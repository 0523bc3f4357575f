"""create_app: the ASGI application over a runtime, with one identity seam.

    app = create_app(runtime)  # sessions for the portal, DPoP tokens for the API
    app = create_app(runtime, identity_source=StaticIdentity(identity))  # tests, tools

Services are built here once; routes read them from app.state. The body cap and
request ids are in the edge layer around everything (`rempart.web.edge`), so even a
refused request gets an id and a JSON answer.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from rempart.alerts.wiring import install_alerts
from rempart.audit import AuditLog
from rempart.audit.recorder import AuditDisclosureRecorder
from rempart.auth.services import AuthServices
from rempart.bench.bare_api import install_bench_endpoints
from rempart.console.wiring import install_console
from rempart.coverage import api as coverage_api
from rempart.coverage import fhir_api
from rempart.coverage.check_endpoint import install_fast_check_route
from rempart.coverage.claims import ClaimService
from rempart.coverage.service import CheckService
from rempart.disclosure import DisclosureRecorder
from rempart.guard.alerts import AlertSink
from rempart.guard.gate import CheckGate
from rempart.member.web import install_member_area
from rempart.observability.install import install_operations
from rempart.portal.wiring import build_auth, install_authentication
from rempart.providers.directory import OrganisationDirectory
from rempart.runtime import Runtime
from rempart.storage.connection_budget import worker_threads
from rempart.web.containment import AuthContainment
from rempart.web.edge import EdgeMiddleware
from rempart.web.errors import install_error_handlers
from rempart.web.identity import DemoHeaderIdentity, IdentitySource
from rempart.web.openapi import install_openapi
from rempart.web.worker_threads import keep_worker_threads

API_DESCRIPTION = (
    "Coverage checks, calculations and claims for third-party payment. A check answers "
    "covered or not, the guarantee, third-party payment and a reference: nothing else. "
    "Errors never echo submitted values. The same check is offered as HL7 FHIR R4 under "
    "/fhir/r4/."
)

# FastAPI's native OpenTelemetry looks up the global providers on every request (tens of
# microseconds on the check path); rempart configures none, so it is off outright.
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_app(runtime: Runtime, *, identity_source: IdentitySource | None = None,
               recorder: DisclosureRecorder | None = None,
               auth: AuthServices | None = None) -> FastAPI:
    app = FastAPI(title="rempart", version="1", description=API_DESCRIPTION,
                  openapi_url="/api/v1/openapi.json", docs_url="/api/v1/docs",
                  redoc_url=None, telemetry=NO_TELEMETRY)
    # Every disclosure is an audit entry, committed with the answer it records.
    app.state.audit_log = audit = AuditLog(engine=runtime.engine, clock=runtime.clock)
    install_alerts(app, runtime, audit=audit)  # first: a malformed webhook refuses to start
    recorder = recorder or AuditDisclosureRecorder(audit=audit)
    app.state.clock = runtime.clock
    app.state.offload_blocking = not runtime.settings.is_sqlite
    auth = auth or build_auth(runtime)
    app.state.guard_gate = gate = _guard_gate(runtime, app.state.alert_sink, auth)
    app.state.check_service = CheckService(engine=runtime.engine, vault=runtime.vault,
                                           clock=runtime.clock, recorder=recorder,
                                           offload=not runtime.settings.is_sqlite, gate=gate)
    app.state.claim_service = ClaimService(engine=runtime.engine, clock=runtime.clock,
                                           recorder=recorder, gate=gate)
    app.include_router(coverage_api.router)
    app.include_router(fhir_api.router)
    install_fast_check_route(app)  # first of all routes: the hot path
    install_member_area(app, runtime, audit=audit)
    install_error_handlers(app)
    authenticated = install_authentication(
        app, runtime=runtime, auth=auth, check_service=app.state.check_service,
        claim_service=app.state.claim_service, gate=gate)
    if isinstance(identity_source, DemoHeaderIdentity):
        identity_source = identity_source.beside(authenticated)  # never instead of it
    app.state.identity_source = identity_source or authenticated
    # The console tells the guard when an operator restores an account.
    install_console(app, runtime=runtime, audit=audit, auth=app.state.auth, guard=gate)
    if runtime.settings.bench_endpoints:  # an oracle: only by explicit setting
        install_bench_endpoints(app, runtime)
    install_openapi(app)
    install_operations(app, runtime, audit=audit, check_service=app.state.check_service,
                       security_events=app.state.auth.events)
    # Last, so that it wraps every other middleware: request id, body cap, security
    # headers and latency metrics in one layer (rempart.web.edge).
    app.add_middleware(EdgeMiddleware, max_bytes=runtime.settings.max_body_bytes,
                       router=app.router)
    # Last, so that its lifespan wraps every other: the threads requests may be sent to,
    # started before serving, never on the loop mid-burst (rempart.web.worker_threads).
    # On PostgreSQL their number bounds the worker's connections (connection_budget).
    keep_worker_threads(app, threads=worker_threads(runtime.settings))
    return app


def _guard_gate(runtime: Runtime, alerts: AlertSink, auth: AuthServices) -> CheckGate | None:
    """The exfiltration guard on the check path, its alerts stored (audited, then sent)."""
    guard = runtime.build_guard(alerts=alerts)
    if guard is None:
        return None
    return CheckGate(guard=guard, organisations=OrganisationDirectory(runtime.engine),
                     containment=AuthContainment(auth=auth, clock=runtime.clock))
