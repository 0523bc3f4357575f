"""The security console's pages under /portal/console (operators with a passkey only).

    GET  /portal/console                              open alerts
    GET  /portal/console/accounts/{id}                an account: sessions, alerts, timeline
    POST /portal/console/accounts/{id}/suspend        contain: suspend, end sessions, revoke
    POST /portal/console/accounts/{id}/restore        lift the suspension
    POST /portal/console/accounts/{id}/passkeys/remove  a lost passkey: remove them all
    POST /portal/console/sessions/{id}/suspend        end one session
    POST /portal/console/alerts/{id}/close            close an alert
    /portal/console/clients/...                       practice software (client_pages)
    /portal/console/networks                          listed shared networks (network_pages)

Every form carries the session's CSRF token. The portal's access rule already asks
operators for a passkey (`require_personal_data_access`); the console adds the role.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from rempart.console.service import SecurityConsole, require_operator
from rempart.portal.access import CSRF_FIELD, PortalUser, SignedIn, portal_of, require_csrf
from rempart.web.forms import RawForm, parse_form, raw_form
from rempart.web.identity import client_address

router = APIRouter(prefix="/portal/console", include_in_schema=False)
Form = Annotated[RawForm, Depends(raw_form)]
CSRF_ONLY = {CSRF_FIELD: 128}
MAX_ID = 2**62


def console_of(request: Request) -> SecurityConsole:
    console: SecurityConsole = request.app.state.console
    return console


def operator(user: SignedIn) -> PortalUser:
    require_operator(user.actor)
    return user


Operator = Annotated[PortalUser, Depends(operator)]


def page(request: Request, user: PortalUser, template: str, *, status: int = 200,
         **context: Any) -> Response:
    return portal_of(request).templates.page(request, template, status=status,
                                             account=user.account, csrf=user.csrf,
                                             section="console", **context)


def _posted(request: Request, user: PortalUser, raw: RawForm) -> None:
    form = parse_form(raw, limits=CSRF_ONLY)
    require_csrf(request, user.session, form.get(CSRF_FIELD))


def _id(value: int) -> int:
    return value if 0 < value < MAX_ID else 0


@router.get("")
def alerts_page(request: Request, user: Operator) -> Response:
    alerts = console_of(request).open_alerts(actor=user.actor)
    return page(request, user, "console.html", alerts=alerts)


@router.get("/accounts/{account_id}")
def account_page(request: Request, account_id: int, user: Operator) -> Response:
    found = console_of(request).account(actor=user.actor, account_id=_id(account_id))
    return page(request, user, "console_account.html", file=found)


@router.post("/accounts/{account_id}/suspend")
def suspend_account(request: Request, account_id: int, raw: Form, user: Operator) -> Response:
    _posted(request, user, raw)
    console_of(request).suspend_account(actor=user.actor, account_id=_id(account_id))
    return RedirectResponse(f"/portal/console/accounts/{account_id}?notice=console_suspended",
                            303)


@router.post("/accounts/{account_id}/restore")
def restore_account(request: Request, account_id: int, raw: Form, user: Operator) -> Response:
    _posted(request, user, raw)
    console_of(request).restore_account(actor=user.actor, account_id=_id(account_id))
    return RedirectResponse(f"/portal/console/accounts/{account_id}?notice=console_restored",
                            303)


@router.post("/accounts/{account_id}/passkeys/remove")
def remove_passkeys(request: Request, account_id: int, raw: Form, user: Operator) -> Response:
    _posted(request, user, raw)
    console_of(request).remove_passkeys(actor=user.actor, actor_method=user.view.method,
                                        account_id=_id(account_id),
                                        session_id=user.view.id,
                                        address=client_address(request))
    return RedirectResponse(
        f"/portal/console/accounts/{account_id}?notice=console_passkeys_removed", 303)


@router.post("/sessions/{session_id}/suspend")
def suspend_session(request: Request, session_id: int, raw: Form, user: Operator) -> Response:
    _posted(request, user, raw)
    account_id = console_of(request).suspend_session(actor=user.actor,
                                                     session_id=_id(session_id),
                                                     client=user.session.client)
    return RedirectResponse(
        f"/portal/console/accounts/{account_id}?notice=console_session_ended", 303)


@router.post("/alerts/{alert_id}/close")
def close_alert(request: Request, alert_id: int, raw: Form, user: Operator) -> Response:
    _posted(request, user, raw)
    console_of(request).close_alert(actor=user.actor, alert_id=_id(alert_id))
    return RedirectResponse("/portal/console?notice=console_alert_closed", 303)
