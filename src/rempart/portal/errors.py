"""Errors on portal pages: back to the login or second-factor page, or an error page
(503 too, when the database or the guard's store is down).

The JSON endpoints under /portal/webauthn/ answer JSON instead (rempart.web.auth_errors).
Refused forms and CSRF failures are reported as security events, naming the field and
never its value.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response

from rempart.auth.errors import (
    LoginThrottled,
    LoginUnavailable,
    SecondFactorRequired,
    SessionInvalid,
)
from rempart.portal.access import CsrfRefused, portal_of
from rempart.portal.i18n import Translator, language_of
from rempart.web.auth_errors import auth_error_json, is_portal_page, status_and_code
from rempart.web.forms import FormError
from rempart.web.identity import NotAuthenticated, client_address
from rempart.web.problems import error_response
from rempart.web.request_id import request_id_of

LOGIN = "/portal/login"
SECOND_FACTOR = "/portal/second-factor"


def error_page(request: Request, *, status: int, message: str,
               headers: dict[str, str] | None = None) -> Response:
    return portal_of(request).templates.page(request, "error.html", status=status,
                                             message=message, headers=headers)


def back_to(request: Request) -> str:
    """Where to return after a second factor: this page, or for a form, its page."""
    path = request.url.path
    if request.method != "GET":
        path = "/".join(path.split("/")[:3])
    return path


async def render_auth_error(request: Request, exc: Exception) -> Response:
    portal = portal_of(request)
    if isinstance(exc, SessionInvalid | NotAuthenticated):
        ended = isinstance(exc, SessionInvalid) and exc.reason != "no session"
        response = RedirectResponse(LOGIN + ("?notice=session_ended" if ended else ""), 303)
        portal.cookies.clear_session(response)
        return response
    if isinstance(exc, SecondFactorRequired):
        return RedirectResponse(f"{SECOND_FACTOR}?next={quote(back_to(request))}", 303)
    status, _ = status_and_code(exc)
    headers = {"retry-after": str(exc.retry_after)} if isinstance(
        exc, LoginThrottled | LoginUnavailable) else None
    message = Translator(language_of(request))("login.unavailable") if isinstance(
        exc, LoginUnavailable) else str(exc)
    return error_page(request, status=status, message=message, headers=headers)


async def render_unavailable(request: Request) -> Response:
    """The database or the guard's store is down: one message, whichever it is."""
    t = Translator(language_of(request))
    return error_page(request, status=503, message=t("error.unavailable"))


async def form_refused(request: Request, exc: Exception) -> Response:
    field = exc.field if isinstance(exc, FormError) else "form"
    portal_of(request).refused(reason="malformed_form", address=client_address(request),
                               details={"field": field})
    t = Translator(language_of(request))
    message = t("error.form", field=field, reason=exc.reason if isinstance(
        exc, FormError) else "")
    if is_portal_page(request.url.path):
        return error_page(request, status=400, message=message)
    return error_response(status=400, code="invalid_form", message=str(exc),
                          request_id=request_id_of(request.scope))


async def csrf_refused(request: Request, exc: Exception) -> Response:
    t = Translator(language_of(request))
    if is_portal_page(request.url.path):
        return error_page(request, status=403, message=t("error.csrf"))
    return error_response(status=403, code="csrf", message=str(exc),
                          request_id=request_id_of(request.scope))


def install_portal_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(FormError, form_refused)
    app.add_exception_handler(CsrfRefused, csrf_refused)


__all__ = ["auth_error_json", "install_portal_error_handlers", "render_auth_error",
           "render_unavailable"]
