"""Putting authentication and the portal into an app: the default identity source, the
token endpoint, the portal's routes, its static files and its error pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from rempart.auth import api as oauth_api
from rempart.auth.events import SecurityEventSink
from rempart.auth.services import AuthServices
from rempart.coverage.claims import ClaimService
from rempart.coverage.service import CheckService
from rempart.guard.gate import CheckGate
from rempart.portal import (
    admin_pages,
    api_step_up_pages,
    auth_pages,
    pages,
    security_pages,
    webauthn_routes,
)
from rempart.portal.errors import (
    install_portal_error_handlers,
    render_auth_error,
    render_unavailable,
)
from rempart.portal.rendering import Templates
from rempart.portal.state import Portal
from rempart.providers.directory import OrganisationDirectory
from rempart.runtime import Runtime
from rempart.web.auth_errors import install_auth_error_handlers
from rempart.web.auth_identity import (
    AuthenticatedIdentity,
    DpopAuthenticator,
    SessionAuthenticator,
)
from rempart.web.cookies import CookiePolicy
from rempart.web.unavailable import install_unavailable_handlers

STATIC_DIR = Path(__file__).parent / "static"
INVITATION_PATH = "/portal/invitation/"

root = APIRouter(include_in_schema=False)


@root.get("/")
def to_portal() -> Response:
    return RedirectResponse("/portal/", 307)


def build_auth(runtime: Runtime, *, events: SecurityEventSink | None = None) -> AuthServices:
    """The services with invitation links that point at this instance's portal."""
    origins = runtime.settings.auth.origins
    base = origins[0] if origins else ""
    return AuthServices.build(runtime, events=events, accept_url=f"{base}{INVITATION_PATH}")


def install_authentication(app: FastAPI, *, runtime: Runtime, auth: AuthServices,
                           check_service: CheckService,
                           claim_service: ClaimService,
                           gate: CheckGate | None = None) -> AuthenticatedIdentity:
    """Add the portal and the token endpoint; return the default identity source."""
    cookies = CookiePolicy(secure=runtime.settings.cookie_secure)
    organisations = OrganisationDirectory(runtime.engine)
    sessions = SessionAuthenticator(sessions=auth.sessions, cookies=cookies,
                                    organisations=organisations)
    app.state.auth = auth
    app.state.portal = Portal(auth=auth, cookies=cookies, sessions=sessions,
                              checks=check_service, claims=claim_service, clock=runtime.clock,
                              engine=runtime.engine, templates=Templates(), guard=gate)
    app.include_router(oauth_api.router)
    for module in (auth_pages, webauthn_routes, pages, security_pages, admin_pages,
                   api_step_up_pages):
        app.include_router(module.router)
    app.include_router(root)
    app.mount("/portal/static", StaticFiles(directory=STATIC_DIR), name="portal-static")
    install_auth_error_handlers(app, html=render_auth_error)
    install_portal_error_handlers(app)
    install_unavailable_handlers(app, page=render_unavailable)  # its pages, not JSON
    return AuthenticatedIdentity(
        sessions=sessions,
        tokens=DpopAuthenticator(api_auth=auth.api_auth, organisations=organisations),
        offload=not runtime.settings.is_sqlite)
