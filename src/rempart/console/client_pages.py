"""The security console's pages about a practice software (API client), for operators:

    GET  /portal/console/clients/{client_id}                          the client, its keys as
                                                                      the guard holds them, alerts
    POST /portal/console/clients/{client_id}/suspend                  contain: the guard
                                                                      refuses all its checks
    POST /portal/console/clients/{client_id}/restore                  lift it, close its alerts
    POST /portal/console/clients/{client_id}/keys/{thumbprint}/restore
                                                                      lift one key's suspension

Forms carry the session's CSRF token; the rules are those of rempart.console.pages.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from rempart.auth.errors import NotFound
from rempart.console.pages import Form, Operator, _posted, console_of, page

PREFIX = "/portal/console/clients"
router = APIRouter(prefix=PREFIX, include_in_schema=False)
# Client ids are `rc_` and hex, thumbprints base64url (RFC 7638): anything else is no
# client of ours, and never goes into a redirect.
_CLIENT_ID = re.compile(r"[A-Za-z0-9_]{1,40}")
_THUMBPRINT = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _checked(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not pattern.fullmatch(value):
        raise NotFound(what)
    return value


@router.get("/{client_id}")
def client_page(request: Request, client_id: str, user: Operator) -> Response:
    found = console_of(request).client(
        actor=user.actor, client_id=_checked(_CLIENT_ID, client_id, "API client"))
    return page(request, user, "console_client.html", file=found)


@router.post("/{client_id}/suspend")
def suspend_client(request: Request, client_id: str, raw: Form, user: Operator) -> Response:
    _posted(request, user, raw)
    client_id = _checked(_CLIENT_ID, client_id, "API client")
    console_of(request).suspend_client(actor=user.actor, client_id=client_id)
    return RedirectResponse(f"{PREFIX}/{client_id}?notice=console_client_suspended", 303)


@router.post("/{client_id}/restore")
def restore_client(request: Request, client_id: str, raw: Form, user: Operator) -> Response:
    _posted(request, user, raw)
    client_id = _checked(_CLIENT_ID, client_id, "API client")
    console_of(request).restore_client(actor=user.actor, client_id=client_id)
    return RedirectResponse(f"{PREFIX}/{client_id}?notice=console_client_restored", 303)


@router.post("/{client_id}/keys/{thumbprint}/restore")
def restore_key(request: Request, client_id: str, thumbprint: str, raw: Form,
                user: Operator) -> Response:
    _posted(request, user, raw)
    client_id = _checked(_CLIENT_ID, client_id, "API client")
    console_of(request).restore_key(actor=user.actor, client_id=client_id,
                                    key_thumbprint=_checked(_THUMBPRINT, thumbprint, "key"))
    return RedirectResponse(f"{PREFIX}/{client_id}?notice=console_key_restored", 303)
