"""Turning exceptions into answers: domain errors, validation errors, HTTP errors.

A dependency that cannot serve (the database, the guard's Redis) gets a 503
(rempart.web.unavailable). Validation errors are rebuilt from scratch: FastAPI's
default handler echoes the submitted input, and submitted input is personal data. Here
an error names the field and a fixed reason, never a value. Unexpected exceptions are
logged by type only (their messages may carry values) and answered with a bare 500.
Log lines name the route's template, never the path, which holds whatever the caller
typed in it.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from rempart.coverage.errors import InvalidRequest, InvalidTransition, UnknownReference
from rempart.guard.decision import Action
from rempart.guard.errors import CheckWithheld
from rempart.observability.http_metrics import route_template
from rempart.web.api_step_up import step_up_code
from rempart.web.identity import NotAuthenticated
from rempart.web.problems import error_response, is_fhir_path
from rempart.web.request_id import request_id_of
from rempart.web.unavailable import install_unavailable_handlers

log = structlog.get_logger(__name__)

_HTTP_CODES = {
    401: "not_authenticated",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}
_FIXED_REASONS = {
    "json_invalid": "not valid JSON",
    "missing": "is required",
    "extra_forbidden": "is not an accepted field",
    "union_tag_invalid": "unexpected resourceType",
    "union_tag_not_found": "resourceType is required",
}


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(InvalidRequest, _invalid_request)
    app.add_exception_handler(UnknownReference, _unknown_reference)
    app.add_exception_handler(NotAuthenticated, _not_authenticated)
    app.add_exception_handler(InvalidTransition, _conflict)
    app.add_exception_handler(CheckWithheld, _withheld)
    install_unavailable_handlers(app)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _server_error)


def _answer(request: Request, *, status: int, code: str, message: str,
            fields: list[tuple[str, str]] | None = None,
            headers: dict[str, str] | None = None,
            step_up: dict[str, Any] | None = None) -> Response:
    log.info("request refused", status=status, code=code, route=route_template(request.scope))
    return error_response(status=status, code=code, message=message, fields=fields,
                          request_id=request_id_of(request.scope),
                          fhir=is_fhir_path(request.url.path), headers=headers,
                          step_up=step_up)


async def _validation_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):
        raise exc
    fhir = is_fhir_path(request.url.path)
    fields = [_field_problem(error, fhir) for error in exc.errors()]
    malformed = any(error.get("type") == "json_invalid" for error in exc.errors())
    return _answer(request, status=422, code="malformed_json" if malformed else "invalid_request",
                   message="the request body is not valid JSON" if malformed
                   else "the request is not valid", fields=fields)


def _field_problem(error: dict[str, Any], fhir: bool) -> tuple[str, str]:
    kind = str(error.get("type", "invalid"))
    location = [part for part in error.get("loc", ()) if part != "body"]
    if kind == "extra_forbidden" and location:
        location = location[:-1]  # the unknown key itself is the caller's text: not echoed
    if kind == "json_invalid":
        location = []
    # Pydantic's messages name constraints, never the input; ctx and input are dropped.
    reason = _FIXED_REASONS.get(kind) or str(error.get("msg", "invalid"))
    return _path(location, fhir), reason


def _path(location: list[Any], fhir: bool) -> str:
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        elif str(part) in ("Patient", "Coverage"):
            continue  # the discriminator's tag in a contained resource's location
        else:
            text += f".{part}" if text else str(part)
    if fhir:
        return f"CoverageEligibilityRequest.{text}" if text else "CoverageEligibilityRequest"
    return text or "body"


async def _invalid_request(request: Request, exc: Exception) -> Response:
    fields = [(e.field, e.reason) for e in exc.errors] if isinstance(exc, InvalidRequest) else []
    return _answer(request, status=422, code="invalid_request",
                   message="the request is not valid", fields=fields)


async def _unknown_reference(request: Request, exc: Exception) -> Response:
    kind = exc.kind if isinstance(exc, UnknownReference) else "resource"
    return _answer(request, status=404, code="not_found", message=f"no such {kind}")


async def _not_authenticated(request: Request, exc: Exception) -> Response:
    return _answer(request, status=401, code="not_authenticated",
                   message="authentication required")


# The guard's rungs (docs/guard.md, "The seam"). The answer names the rung, never the
# guard's reasons: the same answer whether the person exists or not.
_WITHHELD = {
    Action.SLOW_DOWN: (429, "slow_down", "too many checks: retry later"),
    Action.STEP_UP: (401, "step_up_required",
                     "a fresh second factor is required before the next check"),
    Action.SUSPEND_SESSION: (401, "session_revoked", "this session was ended"),
    Action.SUSPEND_ACCOUNT: (403, "account_suspended",
                             "this account is suspended pending review"),
}
STEP_UP_CHALLENGE = 'DPoP error="insufficient_user_authentication", ' \
    'error_description="a fresh second factor is required"'


async def _withheld(request: Request, exc: Exception) -> Response:
    action = Action(exc.action) if isinstance(exc, CheckWithheld) else Action.SUSPEND_SESSION
    status, code, message = _WITHHELD.get(action, _WITHHELD[Action.SUSPEND_SESSION])
    headers = None
    step_up = None
    if action is Action.SLOW_DOWN and isinstance(exc, CheckWithheld):
        headers = {"retry-after": str(exc.retry_after_s)}
    elif action is Action.STEP_UP:
        headers = {"www-authenticate": STEP_UP_CHALLENGE}
        if isinstance(exc, CheckWithheld) and exc.api_key is not None:
            step_up = await step_up_code(request, *exc.api_key)
    return _answer(request, status=status, code=code, message=message, headers=headers,
                   step_up=step_up)


async def _conflict(request: Request, exc: Exception) -> Response:
    return _answer(request, status=409, code="conflict", message=str(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 400
    if status == 400:
        # FastAPI's only 400 is a body it could not decode (not UTF-8, for instance):
        # the same answer as any other malformed JSON.
        return _answer(request, status=422, code="malformed_json",
                       message="the request body is not valid JSON")
    headers = exc.headers if isinstance(exc, HTTPException) else None
    code = _HTTP_CODES.get(status, "http_error")
    message = exc.detail if isinstance(exc, HTTPException) and status == 413 else code.replace(
        "_", " ")
    return _answer(request, status=status, code=code, message=str(message),
                   headers=dict(headers) if headers else None)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("unexpected error", error_type=type(exc).__name__,
              route=route_template(request.scope))
    return error_response(status=500, code="server_error", message="internal error",
                          request_id=request_id_of(request.scope),
                          fhir=is_fhir_path(request.url.path))
