"""Authentication errors turned into answers, as docs/auth.md maps them.

JSON (or a FHIR OperationOutcome under /fhir/) everywhere except the portal's pages,
whose errors go to the portal's own renderer (a redirect to the login or second-factor
page, or an error page). Messages are the domain's, which never carry a secret nor
say whether an account exists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI, Request
from starlette.responses import Response

from rempart.auth.errors import (
    AccountConflict,
    AccountSuspended,
    AuthError,
    ClientAuthFailed,
    InvalidAccessToken,
    InvalidCredentials,
    InvalidDpopProof,
    InvalidInput,
    InvalidSecondFactor,
    InvitationInvalid,
    LoginThrottled,
    LoginUnavailable,
    NotFound,
    NotPermitted,
    PasskeyRequired,
    ReplayCheckUnavailable,
    SecondFactorRequired,
    SessionInvalid,
    StepUpRequired,
    WeakPassword,
)
from rempart.observability.http_metrics import route_template
from rempart.web.identity import NotAuthenticated
from rempart.web.problems import error_response, is_fhir_path
from rempart.web.request_id import request_id_of

log = structlog.get_logger(__name__)

HtmlRenderer = Callable[[Request, Exception], Awaitable[Response]]
PORTAL_PREFIX = "/portal/"
PORTAL_JSON_PREFIX = "/portal/webauthn/"
DPOP_ALGORITHMS = "ES256 ES384 Ed25519 PS256 RS256"

# Most specific first: the first class that matches gives status and code.
_ANSWERS: list[tuple[type[Exception], int, str]] = [
    (NotAuthenticated, 401, "not_authenticated"),
    (InvalidAccessToken, 401, "invalid_token"),
    (InvalidDpopProof, 401, "invalid_dpop_proof"),
    (ClientAuthFailed, 401, "invalid_client"),
    (InvalidCredentials, 401, "invalid_credentials"),
    (SessionInvalid, 401, "session_invalid"),
    (PasskeyRequired, 401, "passkey_required"),
    (StepUpRequired, 401, "step_up_required"),
    (SecondFactorRequired, 401, "second_factor_required"),
    (LoginThrottled, 429, "throttled"),
    (LoginUnavailable, 503, "login_unavailable"),
    (ReplayCheckUnavailable, 503, "auth_unavailable"),
    (AccountSuspended, 403, "account_suspended"),
    (NotPermitted, 403, "not_permitted"),
    (InvalidSecondFactor, 400, "invalid_second_factor"),
    (InvitationInvalid, 400, "invitation_invalid"),
    (WeakPassword, 400, "weak_password"),
    (InvalidInput, 400, "invalid_input"),
    (NotFound, 404, "not_found"),
    (AccountConflict, 409, "conflict"),
]


def status_and_code(exc: Exception) -> tuple[int, str]:
    for kind, status, code in _ANSWERS:
        if isinstance(exc, kind):
            return status, code
    return 400, "auth_error"


def is_portal_page(path: str) -> bool:
    return path.startswith(PORTAL_PREFIX) and not path.startswith(PORTAL_JSON_PREFIX)


def auth_error_json(request: Request, exc: Exception) -> Response:
    status, code = status_and_code(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, LoginThrottled | LoginUnavailable | ReplayCheckUnavailable):
        headers["retry-after"] = str(exc.retry_after)
    if status == 401 and request.url.path.startswith(("/api/", "/fhir/")):
        error = f', error="{code}"' if code in ("invalid_token", "invalid_dpop_proof") else ""
        headers["www-authenticate"] = f'DPoP algs="{DPOP_ALGORITHMS}"{error}'
    fields = [(exc.field, exc.reason)] if isinstance(exc, InvalidInput) else None
    message = "authentication required" if isinstance(exc, NotAuthenticated) else str(exc)
    log.info("request refused", status=status, code=code, route=route_template(request.scope))
    return error_response(status=status, code=code, message=message, fields=fields,
                          request_id=request_id_of(request.scope),
                          fhir=is_fhir_path(request.url.path), headers=headers or None)


def install_auth_error_handlers(app: FastAPI, *, html: HtmlRenderer | None = None) -> None:
    async def handle(request: Request, exc: Exception) -> Response:
        if html is not None and is_portal_page(request.url.path):
            return await html(request, exc)
        return auth_error_json(request, exc)

    app.add_exception_handler(AuthError, handle)
    app.add_exception_handler(NotAuthenticated, handle)
