"""create_app: the ASGI application over a runtime, with one identity seam.

    app = create_app(runtime, identity_source=StaticIdentity(identity))

Services are built here once; routes read them from app.state. The body cap and
request ids are plain ASGI middleware around everything, so even a refused request gets
an id and a JSON answer.
"""

from __future__ import annotations

from fastapi import FastAPI

from rempart.coverage import api as coverage_api
from rempart.coverage import fhir_api
from rempart.coverage.claims import ClaimService
from rempart.coverage.service import CheckService
from rempart.disclosure import DatabaseDisclosureRecorder, DisclosureRecorder
from rempart.runtime import Runtime
from rempart.web.body_limit import BodySizeLimitMiddleware
from rempart.web.errors import install_error_handlers
from rempart.web.identity import IdentitySource
from rempart.web.openapi import install_openapi
from rempart.web.request_id import RequestIdMiddleware

API_DESCRIPTION = (
    "Coverage checks, calculations and claims for third-party payment. A check answers "
    "covered or not, the guarantee, third-party payment and a reference: nothing else. "
    "Errors never echo submitted values. The same check is offered as HL7 FHIR R4 under "
    "/fhir/r4/."
)


def create_app(runtime: Runtime, *, identity_source: IdentitySource,
               recorder: DisclosureRecorder | None = None) -> FastAPI:
    app = FastAPI(title="rempart", version="1", description=API_DESCRIPTION,
                  openapi_url="/api/v1/openapi.json", docs_url="/api/v1/docs",
                  redoc_url=None)
    recorder = recorder or DatabaseDisclosureRecorder()
    app.state.identity_source = identity_source
    app.state.clock = runtime.clock
    app.state.offload_blocking = not runtime.settings.is_sqlite
    app.state.check_service = CheckService(engine=runtime.engine, vault=runtime.vault,
                                           clock=runtime.clock, recorder=recorder,
                                           offload=not runtime.settings.is_sqlite)
    app.state.claim_service = ClaimService(engine=runtime.engine, clock=runtime.clock,
                                           recorder=recorder)
    app.include_router(coverage_api.router)
    app.include_router(fhir_api.router)
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=runtime.settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    return app
