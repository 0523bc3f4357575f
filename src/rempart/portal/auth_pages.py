"""Login, logout, the second factor, enrolment and invitations: the portal's own
authentication pages. Each route calls one service and maps its answer (docs/auth.md).

Passkeys come first on every page; TOTP is offered as the phishable fallback, except
at a passkey holder's step-up, where the page offers only the passkey and a TOTP or
recovery code is refused (rempart.auth.second_factor). The guard is told which factor
answered its step-up (a recovery code as such, not as TOTP). The JavaScript half of
the passkey ceremonies lives in webauthn_routes.py and static/.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from rempart.auth.errors import (
    AccountSuspended,
    FactorChangeNeedsPasskey,
    InvalidCredentials,
    InvalidInput,
    InvalidSecondFactor,
    InvitationInvalid,
    LoginThrottled,
    LoginUnavailable,
    PasskeyRequired,
    WeakPassword,
)
from rempart.auth.session_store import SessionLevel
from rempart.auth.tokens import new_token
from rempart.guard.guard import StepUpFactor
from rempart.portal.access import (
    CSRF_FIELD,
    AnySession,
    portal_of,
    require_anonymous_csrf,
    require_csrf,
    safe_next,
    signed_out,
)
from rempart.portal.i18n import LANGUAGES, Translator, language_of
from rempart.portal.qr import qr_data_uri
from rempart.web.auth_identity import PortalSession
from rempart.web.cookies import client_info
from rempart.web.forms import RawForm, parse_form, raw_form
from rempart.web.identity import client_address

router = APIRouter(prefix="/portal", include_in_schema=False)
Form = Annotated[RawForm, Depends(raw_form)]

TOKEN = 128
LOGIN_FIELDS = {"login": 254, "password": 256, CSRF_FIELD: TOKEN}
CODE_FIELDS = {"code": 32, "next": 200, CSRF_FIELD: TOKEN}
CSRF_ONLY = {CSRF_FIELD: TOKEN}
INVITATION_FIELDS = {"password": 256, "password_again": 256, CSRF_FIELD: TOKEN}


@router.get("/")
def home() -> Response:
    return RedirectResponse("/portal/check", 303)


# -- login and logout ------------------------------------------------------------------


def _anonymous_page(request: Request, template: str, *, status: int = 200,
                    headers: dict[str, str] | None = None, **context: Any) -> Response:
    """A page with anonymous forms: it carries a double-submit CSRF token."""
    portal = portal_of(request)
    token = portal.cookies.csrf_cookie(request) or new_token()
    response = portal.templates.page(request, template, status=status, csrf=token,
                                     headers=headers, **context)
    portal.cookies.set_csrf(response, token)
    return response


@router.get("/login")
def login_page(request: Request) -> Response:
    return _anonymous_page(request, "login.html", section="login")


@router.post("/login")
def login(request: Request, raw: Form) -> Response:
    portal = portal_of(request)
    form = parse_form(raw, limits=LOGIN_FIELDS)
    require_anonymous_csrf(request, form.get(CSRF_FIELD))
    t = Translator(language_of(request))
    try:
        result = portal.auth.login.password_login(
            login=form.get("login", ""), password=form.get("password", ""),
            client=client_info(request, portal.cookies),
            previous_token=portal.cookies.session_token(request))
    except InvalidCredentials:
        return _anonymous_page(request, "login.html", status=401, error=t("login.invalid"))
    except LoginThrottled as exc:
        return _anonymous_page(request, "login.html", status=429,
                               error=t("login.throttled", seconds=exc.retry_after),
                               headers={"retry-after": str(exc.retry_after)})
    except LoginUnavailable as exc:
        return _anonymous_page(request, "login.html", status=503, error=t("login.unavailable"),
                               headers={"retry-after": str(exc.retry_after)})
    except AccountSuspended:
        return _anonymous_page(request, "login.html", status=403, error=t("login.suspended"))
    except InvalidInput as exc:
        return _anonymous_page(request, "login.html", status=400,
                               error=t("error.field", field=t(f"field.{exc.field}")))
    target = "/portal/enrol" if result.must_enrol else "/portal/second-factor"
    response = RedirectResponse(target, 303)
    portal.cookies.set_session(response, result.session)
    return response


@router.post("/logout")
def logout(request: Request, raw: Form, session: AnySession) -> Response:
    portal = portal_of(request)
    form = parse_form(raw, limits=CSRF_ONLY)
    require_csrf(request, session, form.get(CSRF_FIELD))
    portal.auth.sessions.logout(token=session.token, client=session.client)
    if portal.guard is not None:
        portal.guard.session_ended(portal_session_id=session.view.id)
    return signed_out(portal)


@router.get("/lang/{language}")
def switch_language(request: Request, language: str, next: str | None = None) -> Response:
    response = RedirectResponse(safe_next(next), 303)
    if language in LANGUAGES:
        portal_of(request).cookies.set_language(response, language)
    return response


# -- the second factor -----------------------------------------------------------------


def _second_factor_page(request: Request, session: PortalSession, *, next_path: str,
                        status: int = 200, error: str | None = None) -> Response:
    portal = portal_of(request)
    level = session.view.level
    step_up = level is not SessionLevel.PASSWORD  # past the password: moved, stale or guarded
    methods = portal.auth.second_factor.methods(session.view.account.id, step_up=step_up)
    if not methods:
        return RedirectResponse("/portal/enrol", 303)
    return portal.templates.page(
        request, "second_factor.html", status=status,
        csrf=portal.auth.sessions.csrf_token(session.token), methods=methods,
        next_path=next_path, step_up=level is SessionLevel.STEP_UP,
        passkey_only=step_up and methods == ["passkey"]
        and not session.view.account.role.is_operator,
        error=error, section="second_factor")


@router.get("/second-factor")
def second_factor_page(request: Request, session: AnySession,
                       next: str | None = None) -> Response:
    return _second_factor_page(request, session, next_path=safe_next(next))


@router.post("/second-factor/{method}")
def second_factor(request: Request, method: str, raw: Form, session: AnySession) -> Response:
    portal = portal_of(request)
    form = parse_form(raw, limits=CODE_FIELDS)
    require_csrf(request, session, form.get(CSRF_FIELD))
    next_path = safe_next(form.get("next"))
    t = Translator(language_of(request))
    complete = {"totp": portal.auth.second_factor.complete_totp,
                "recovery": portal.auth.second_factor.complete_recovery}.get(method)
    if complete is None:
        return _second_factor_page(request, session, next_path=next_path, status=404)
    try:
        issued = complete(session_token=session.token, client=session.client,
                          code=form.get("code", ""))
    except (InvalidSecondFactor, InvalidInput):
        return _second_factor_page(request, session, next_path=next_path, status=400,
                                   error=t(f"second_factor.refused_{method}"))
    except LoginThrottled as exc:
        return _second_factor_page(request, session, next_path=next_path, status=429,
                                   error=t("login.throttled", seconds=exc.retry_after))
    except PasskeyRequired:  # a passkey holder's step-up (or an operator): the page says so
        return _second_factor_page(request, session, next_path=next_path, status=403,
                                   error=t("second_factor.passkey_required"))
    if portal.guard is not None:  # a fresh second factor answers the guard's step-up
        portal.guard.stepped_up(portal_session_id=session.view.id,
                                factor=StepUpFactor(method))
    response = RedirectResponse(next_path, 303)
    portal.cookies.set_session(response, issued)
    return response


# -- enrolment ---------------------------------------------------------------------------


def _enrol_page(request: Request, session: PortalSession, *, status: int = 200,
                error: str | None = None) -> Response:
    portal = portal_of(request)
    account = session.view.account
    first = not portal.auth.second_factor.methods(account.id)
    return portal.templates.page(
        request, "enrol.html", status=status,
        csrf=portal.auth.sessions.csrf_token(session.token), first=first,
        totp_allowed=not account.role.is_operator, error=error, section="enrol",
        account=account if session.view.is_full else None)


@router.get("/enrol")
def enrol_page(request: Request, session: AnySession) -> Response:
    portal = portal_of(request)
    if not portal.auth.enrolment.may_change_factors(view=session.view):
        # Said before a ceremony is begun; the enrolment itself refuses it anyway.
        t = Translator(language_of(request))
        return _enrol_page(request, session, error=t("enrol.passkey_required"))
    return _enrol_page(request, session)


def _needs_passkey(request: Request, session: PortalSession) -> Response:
    """A passkey holder's session that did not pass the passkey (FactorChangeNeedsPasskey,
    reported by the domain): what to do, nothing changed."""
    t = Translator(language_of(request))
    return _enrol_page(request, session, status=403, error=t("enrol.passkey_required"))


@router.post("/enrol/totp")
def begin_totp(request: Request, raw: Form, session: AnySession) -> Response:
    portal = portal_of(request)
    form = parse_form(raw, limits=CSRF_ONLY)
    require_csrf(request, session, form.get(CSRF_FIELD))
    try:
        enrolment = portal.auth.enrolment.begin_totp(session_token=session.token,
                                                     client=session.client)
    except FactorChangeNeedsPasskey:
        return _needs_passkey(request, session)
    secret = enrolment.secret
    return portal.templates.page(
        request, "enrol_totp.html", csrf=portal.auth.sessions.csrf_token(session.token),
        secret_groups=[secret[i:i + 4] for i in range(0, len(secret), 4)], secret=secret,
        uri=enrolment.provisioning_uri, qr=qr_data_uri(enrolment.provisioning_uri),
        section="enrol")


@router.post("/enrol/totp/confirm")
def confirm_totp(request: Request, raw: Form, session: AnySession) -> Response:
    portal = portal_of(request)
    form = parse_form(raw, limits=CODE_FIELDS)
    require_csrf(request, session, form.get(CSRF_FIELD))
    t = Translator(language_of(request))
    try:
        result = portal.auth.enrolment.confirm_totp(session_token=session.token,
                                                    client=session.client,
                                                    code=form.get("code", ""))
    except (InvalidSecondFactor, InvalidInput):
        return _enrol_page(request, session, status=400, error=t("enrol.totp_refused"))
    except FactorChangeNeedsPasskey:
        return _needs_passkey(request, session)
    token = result.session.token if result.session else session.token
    next_path = "/portal/check" if result.session else "/portal/security?notice=factor_added"
    response: Response
    if result.recovery_codes:
        response = portal.templates.page(
            request, "recovery_codes.html", codes=result.recovery_codes, next_path=next_path,
            csrf=portal.auth.sessions.csrf_token(token), account=session.view.account)
    else:
        response = RedirectResponse(next_path, 303)
    if result.session is not None:
        portal.cookies.set_session(response, result.session)
    return response


# -- invitations -------------------------------------------------------------------------


@router.get("/invitation/{token}")
def invitation_page(request: Request, token: str) -> Response:
    return _anonymous_page(request, "invitation.html", token=token[:TOKEN])


@router.post("/invitation/{token}")
def accept_invitation(request: Request, token: str, raw: Form) -> Response:
    portal = portal_of(request)
    form = parse_form(raw, limits=INVITATION_FIELDS)
    require_anonymous_csrf(request, form.get(CSRF_FIELD))
    t = Translator(language_of(request))
    password = form.get("password", "")
    if password != form.get("password_again", ""):
        return _anonymous_page(request, "invitation.html", status=400, token=token[:TOKEN],
                               error=t("invitation.mismatch"))
    try:
        portal.auth.invitations.accept(token=token, password=password,
                                       address=client_address(request))
    except InvitationInvalid:
        return _anonymous_page(request, "invitation.html", status=400, token=token[:TOKEN],
                               error=t("invitation.invalid"))
    except WeakPassword as exc:
        key = f"password.{exc.reason}"
        return _anonymous_page(request, "invitation.html", status=400, token=token[:TOKEN],
                               error=t(key) if t.has(key) else str(exc))
    return RedirectResponse("/portal/login?notice=account_created", 303)
