"""The JSON half of the passkey ceremonies, called by static/portal.js.

Each ceremony is two calls: `begin` returns the options for navigator.credentials
(and an opaque ceremony id); `finish` sends back what the authenticator signed. The
CSRF token travels in the X-CSRF-Token header: the session's, or before login the
page's double-submit token. Errors are JSON (rempart.web.auth_errors); the messages
name the failed check (wrong origin, wrong relying party, replayed challenge), never
a value.

A malformed answer (not JSON, not an object, a missing or mistyped field) is refused
with 400 and reported as a security event naming the ceremony and the field, never the
payload: a failed login (LOGIN_FAILED), a failed second factor (SECOND_FACTOR_FAILED)
or a refused registration (REQUEST_REFUSED), each with why=malformed, as a malformed
TOTP code is. Nothing is counted against the throttle (no guess was made).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from rempart.auth.errors import InvalidInput, InvalidSecondFactor
from rempart.auth.events import EventKind, SecurityEvent
from rempart.auth.passkeys import Ceremony
from rempart.guard.guard import StepUpFactor
from rempart.portal.access import (
    CSRF_HEADER,
    AnySession,
    portal_of,
    require_anonymous_csrf,
    require_csrf,
    safe_next,
)
from rempart.web.auth_identity import PortalSession
from rempart.web.cookies import client_info
from rempart.web.identity import client_address

router = APIRouter(prefix="/portal/webauthn", include_in_schema=False)
MAX_CEREMONY_ID = 128


@dataclass(frozen=True)
class JsonBody:
    """The posted object, or why it is none: the route reports it (it knows who asked)."""

    value: dict[str, Any]
    error: InvalidInput | None = None


async def json_body(request: Request) -> JsonBody:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return JsonBody({}, InvalidInput("body", "must be application/json"))
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return JsonBody({}, InvalidInput("body", "not valid JSON"))
    if not isinstance(body, dict):
        return JsonBody({}, InvalidInput("body", "must be a JSON object"))
    return JsonBody(body)


Body = Annotated[JsonBody, Depends(json_body)]


def _ceremony(ceremony: Ceremony) -> Response:
    return _json({"ceremony_id": ceremony.ceremony_id,
                  "options": json.loads(ceremony.options_json)})


def _json(payload: dict[str, Any]) -> Response:
    return Response(orjson.dumps(payload), media_type="application/json")


def _answer(body: JsonBody) -> tuple[str, dict[str, Any]]:
    if body.error is not None:
        raise body.error
    ceremony_id = body.value.get("ceremony_id")
    credential = body.value.get("credential")
    if not isinstance(ceremony_id, str) or not 0 < len(ceremony_id) <= MAX_CEREMONY_ID:
        raise InvalidInput("ceremony_id", "missing or malformed")
    if not isinstance(credential, dict):
        raise InvalidInput("credential", "must be a JSON object")
    return ceremony_id, credential


def _malformed(request: Request, exc: InvalidInput, *, kind: EventKind, reason: str,
               session: PortalSession | None = None) -> NoReturn:
    """Report a malformed answer (its field, never its value), then refuse it."""
    portal = portal_of(request)
    account = session.view.account if session is not None else None
    portal.auth.events.emit(SecurityEvent(
        kind, portal.clock.now(), account_id=account.id if account else None,
        organisation_id=account.organisation_id if account else None,
        session_id=session.view.id if session is not None else None,
        address=client_address(request), reason=reason,
        details={"why": "malformed", "field": exc.field}))
    raise exc


# -- a passkey login (username-less) ----------------------------------------------------


@router.post("/login/begin")
def begin_login(request: Request) -> Response:
    require_anonymous_csrf(request, request.headers.get(CSRF_HEADER))
    return _ceremony(portal_of(request).auth.login.begin_passkey_login())


@router.post("/login/finish")
def finish_login(request: Request, body: Body) -> Response:
    portal = portal_of(request)
    require_anonymous_csrf(request, request.headers.get(CSRF_HEADER))
    try:
        ceremony_id, credential = _answer(body)
    except InvalidInput as exc:
        _malformed(request, exc, kind=EventKind.LOGIN_FAILED, reason="passkey")
    issued = portal.auth.login.finish_passkey_login(
        ceremony_id=ceremony_id, credential=credential,
        client=client_info(request, portal.cookies),
        previous_token=portal.cookies.session_token(request))
    response = _json({"next": "/portal/check"})
    portal.cookies.set_session(response, issued)
    return response


# -- a passkey as the second factor -----------------------------------------------------------


@router.post("/second-factor/begin")
def begin_second_factor(request: Request, session: AnySession) -> Response:
    require_csrf(request, session, request.headers.get(CSRF_HEADER))
    return _ceremony(portal_of(request).auth.second_factor.begin_passkey(
        session_token=session.token, client=session.client))


@router.post("/second-factor/finish")
def finish_second_factor(request: Request, session: AnySession, body: Body) -> Response:
    portal = portal_of(request)
    require_csrf(request, session, request.headers.get(CSRF_HEADER))
    try:
        ceremony_id, credential = _answer(body)
    except InvalidInput as exc:
        _malformed(request, exc, kind=EventKind.SECOND_FACTOR_FAILED, reason="passkey",
                   session=session)
    issued = portal.auth.second_factor.complete_passkey(
        session_token=session.token, client=session.client, ceremony_id=ceremony_id,
        credential=credential)
    if portal.guard is not None:  # a fresh passkey answers the guard's step-up
        portal.guard.stepped_up(portal_session_id=session.view.id, factor=StepUpFactor.PASSKEY)
    next_path = body.value.get("next")
    response = _json({"next": safe_next(next_path if isinstance(next_path, str) else None)})
    portal.cookies.set_session(response, issued)
    return response


# -- registering a passkey --------------------------------------------------------------------


@router.post("/register/begin")
def begin_register(request: Request, session: AnySession) -> Response:
    require_csrf(request, session, request.headers.get(CSRF_HEADER))
    return _ceremony(portal_of(request).auth.enrolment.begin_passkey(
        session_token=session.token, client=session.client))


@router.post("/register/finish")
def finish_register(request: Request, session: AnySession, body: Body) -> Response:
    portal = portal_of(request)
    require_csrf(request, session, request.headers.get(CSRF_HEADER))
    label = body.value.get("label")
    try:
        ceremony_id, credential = _answer(body)
        result = portal.auth.enrolment.finish_passkey(
            session_token=session.token, client=session.client, ceremony_id=ceremony_id,
            credential=credential, label=label if isinstance(label, str) else "")
    except InvalidInput as exc:
        _malformed(request, exc, kind=EventKind.REQUEST_REFUSED,
                   reason="passkey_registration", session=session)
    except InvalidSecondFactor as exc:
        # The domain reports failed logins itself; a refused registration is ours to report.
        portal.refused(reason="passkey_registration", address=client_address(request),
                       account_id=session.view.account.id, session_id=session.view.id,
                       details={"why": exc.reason})
        raise
    next_path = "/portal/check" if result.session else "/portal/security?notice=factor_added"
    response = _json({"next": next_path, "recovery_codes": result.recovery_codes})
    if result.session is not None:
        portal.cookies.set_session(response, result.session)
    return response
