"""The account security page: sessions (each with an "end" button), known devices,
passkeys, TOTP, recovery codes and recent logins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from rempart.auth.errors import FactorChangeNeedsPasskey
from rempart.portal.access import CSRF_FIELD, SignedIn, portal_of, require_csrf, signed_out
from rempart.portal.errors import error_page
from rempart.portal.i18n import Translator, language_of
from rempart.portal.recent_logins import recent_logins
from rempart.web.forms import RawForm, parse_form, raw_form

router = APIRouter(prefix="/portal/security", include_in_schema=False)
Form = Annotated[RawForm, Depends(raw_form)]
CSRF_ONLY = {CSRF_FIELD: 128}


@router.get("")
def security_page(request: Request, user: SignedIn) -> Response:
    portal = portal_of(request)
    account_id = user.account.id
    return portal.templates.page(
        request, "security.html", account=user.account, csrf=user.csrf, section="security",
        sessions=portal.auth.sessions.list_for_account(account_id),
        current_session=user.view.id,
        devices=portal.auth.devices.for_account(account_id),
        passkeys=portal.auth.passkeys.for_account(account_id),
        has_totp=portal.auth.totp.has_confirmed(account_id),
        recovery_left=portal.auth.recovery.remaining(account_id),
        logins=recent_logins(portal.engine, account_id))


@router.post("/sessions/{session_id}/end")
def end_session(request: Request, session_id: int, raw: Form, user: SignedIn) -> Response:
    portal = portal_of(request)
    form = parse_form(raw, limits=CSRF_ONLY)
    require_csrf(request, user.session, form.get(CSRF_FIELD))
    portal.auth.sessions.end_own(session=user.view, session_id=session_id,
                                 client=user.session.client)
    if session_id == user.view.id:
        return signed_out(portal)
    return RedirectResponse("/portal/security?notice=session_ended_other", 303)


@router.post("/recovery-codes")
def new_recovery_codes(request: Request, raw: Form, user: SignedIn) -> Response:
    portal = portal_of(request)
    form = parse_form(raw, limits=CSRF_ONLY)
    require_csrf(request, user.session, form.get(CSRF_FIELD))
    try:
        codes = portal.auth.enrolment.regenerate_recovery_codes(
            session_token=user.session.token, client=user.session.client)
    except FactorChangeNeedsPasskey:  # reported by the domain; the old codes stand
        t = Translator(language_of(request))
        return error_page(request, status=403, message=t("enrol.passkey_required"))
    return portal.templates.page(request, "recovery_codes.html", account=user.account,
                                 csrf=user.csrf, codes=codes, next_path="/portal/security",
                                 section="security")
