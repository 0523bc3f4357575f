"""Answering the guard's step-up of a practice software's key (rempart.auth.api_step_up).

The software shows its user the code from its 401; a person of the same organisation
types it here, sees which software it is for (its name, never a patient), and confirms
with a second factor passed within the last minutes: a passkey where the account has one
(a session opened with TOTP or a recovery code is sent to the second-factor page, which
then offers only the passkey, and the refusal is reported). Only then does the guard
release that one key. Who may confirm is the organisation's choice
(rempart.auth.api_step_up_policy): its admins only by default, any of its users if an
admin chose so; anyone else who types a right code is told that an admin must confirm
it, the code stays valid, and the organisation's admins are told once per code
(rempart.auth.api_release_notices). Every other refusal changes nothing and says the
same for a code unknown, expired, used or another organisation's; wrong codes are
throttled per account and per address.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from rempart.auth.access import require_recent_second_factor
from rempart.auth.api_step_up import PendingStepUp, displayed, normalise
from rempart.auth.errors import PasskeyRequired
from rempart.auth.events import EventKind, SecurityEvent
from rempart.auth.throttle import Attempt
from rempart.guard.guard import StepUpFactor
from rempart.portal.access import CSRF_FIELD, PortalUser, Provider, portal_of, require_csrf
from rempart.portal.i18n import Translator, language_of
from rempart.web.api_step_up import VERIFICATION_PATH
from rempart.web.forms import RawForm, parse_form, raw_form
from rempart.web.identity import client_address

router = APIRouter(prefix=VERIFICATION_PATH, include_in_schema=False)
Form = Annotated[RawForm, Depends(raw_form)]
CODE_FIELDS = {"code": 32, CSRF_FIELD: 128}


def _page(request: Request, user: PortalUser, *, status: int = 200,
          pending: PendingStepUp | None = None, code: str = "", **context: Any) -> Response:
    portal = portal_of(request)
    allowed = _may_confirm(request, user)
    return portal.templates.page(
        request, "api_step_up.html", status=status, account=user.account, csrf=user.csrf,
        section="api_step_up", pending=pending if allowed else None, code=code,
        may_confirm=allowed, **context)


def _may_confirm(request: Request, user: PortalUser) -> bool:
    return portal_of(request).auth.api_step_up_policies.may_confirm(
        actor=user.actor, organisation_id=user.requester.organisation_id)


def _attempt(request: Request, user: PortalUser) -> Attempt:
    return Attempt(login_key=f"account:{user.account.id}",
                   address=client_address(request) or "-")


def _checked(request: Request, raw: RawForm, user: PortalUser) -> tuple[str, Response | None]:
    """The typed code once the form, the second factor's freshness and the throttle
    allow it to be looked up; else the answer to give."""
    portal = portal_of(request)
    form = parse_form(raw, limits=CODE_FIELDS)
    require_csrf(request, user.session, form.get(CSRF_FIELD))
    # Sent to the second-factor page (StepUpRequired) when it is not recent.
    require_recent_second_factor(user.view, now=portal.clock.now(),
                                 within_seconds=portal.auth.settings.recent_auth_seconds)
    _require_passkey_if_held(request, user)
    wait = portal.auth.api_step_up_throttle.retry_after(_attempt(request, user))
    if wait > 0:
        seconds = max(1, round(wait))
        t = Translator(language_of(request))
        return "", _page(request, user, status=429, headers={"retry-after": str(seconds)},
                         error=t("api_step_up.throttled", seconds=seconds))
    return form.get("code", ""), None


def _require_passkey_if_held(request: Request, user: PortalUser) -> None:
    """A passkey holder releases a key only with the passkey: a TOTP code can be relayed
    by a phishing proxy, its signature cannot. Reported; the code is not looked at."""
    portal = portal_of(request)
    if not portal.auth.second_factor.skipped_passkey(account_id=user.account.id,
                                                     method=user.view.method):
        return
    portal.refused(reason="api_step_up_passkey_required", address=client_address(request),
                   account_id=user.account.id, session_id=user.view.id,
                   details={"method": user.view.method or "-"})
    raise PasskeyRequired("this account has a passkey: releasing a key needs it")


def _refused(request: Request, user: PortalUser, reason: str) -> Response:
    """An unknown, expired, used, malformed or another organisation's code: one answer."""
    portal = portal_of(request)
    portal.auth.api_step_up_throttle.failed(_attempt(request, user))
    portal.refused(reason=reason, address=client_address(request),
                   account_id=user.account.id, session_id=user.view.id)
    t = Translator(language_of(request))
    return _page(request, user, status=400, error=t("api_step_up.unknown"))


def _admin_required(request: Request, user: PortalUser, pending: PendingStepUp) -> Response:
    """A right code typed by someone the organisation's choice does not let confirm it:
    said plainly, the code left pending for an admin, recorded (never the code) since it
    may be a thief's "vendor support" call reaching the wrong person; for the same reason
    the organisation's admins are told, once per code however many attempts."""
    portal = portal_of(request)
    now = portal.clock.now()
    portal.auth.events.emit(SecurityEvent(
        EventKind.REQUEST_REFUSED, now, account_id=user.account.id,
        organisation_id=pending.organisation_id, session_id=user.view.id,
        client_id=pending.client_id, address=client_address(request),
        reason="api_step_up_admin_required"))
    if portal.auth.api_step_ups.first_refusal(code_id=pending.id):
        portal.auth.api_release_notices.refused(
            organisation_id=pending.organisation_id, client_id=pending.client_id,
            client_name=pending.client_name, typed_by=user.account.id, at=now)
    t = Translator(language_of(request))
    return _page(request, user, status=403, error=t("api_step_up.admin_required"))


@router.get("")
def api_step_up_page(request: Request, user: Provider) -> Response:
    return _page(request, user)


@router.post("")
def look_up(request: Request, raw: Form, user: Provider) -> Response:
    code, answer = _checked(request, raw, user)
    if answer is not None:
        return answer
    organisation_id = user.requester.organisation_id
    pending = portal_of(request).auth.api_step_ups.pending(code=code,
                                                           organisation_id=organisation_id)
    if pending is None:
        return _refused(request, user, "api_step_up_code")
    if not _may_confirm(request, user):
        return _admin_required(request, user, pending)
    return _page(request, user, pending=pending, code=displayed(normalise(code) or ""))


@router.post("/confirm")
def confirm(request: Request, raw: Form, user: Provider) -> Response:
    portal = portal_of(request)
    code, answer = _checked(request, raw, user)
    if answer is not None:
        return answer
    if not _may_confirm(request, user):  # the form posted without the look-up's page
        pending = portal.auth.api_step_ups.pending(
            code=code, organisation_id=user.requester.organisation_id)
        if pending is None:
            return _refused(request, user, "api_step_up_code")
        return _admin_required(request, user, pending)
    redeemed = portal.auth.api_step_ups.redeem(
        code=code, organisation_id=user.requester.organisation_id, account_id=user.account.id)
    if redeemed is None:
        return _refused(request, user, "api_step_up_code")
    # What the session's factor was (recent and FULL, so one is set): no credit beyond TOTP's
    # for anything but a passkey.
    factor = next((f for f in StepUpFactor if f.value == user.view.method), StepUpFactor.TOTP)
    released = portal.guard is not None and portal.guard.api_stepped_up(
        client_id=redeemed.client_id, key_thumbprint=redeemed.key_thumbprint, factor=factor)
    portal.auth.events.emit(SecurityEvent(
        EventKind.API_CLIENT_STEPPED_UP if released else EventKind.REQUEST_REFUSED,
        portal.clock.now(), account_id=user.account.id,
        organisation_id=redeemed.organisation_id, session_id=user.view.id,
        client_id=redeemed.client_id, address=client_address(request),
        reason=factor.value if released else "api_step_up_suspended"))
    if not released:  # suspended meanwhile, or no longer known to the guard (or it is off)
        t = Translator(language_of(request))
        return _page(request, user, status=409, error=t("api_step_up.suspended"))
    portal.auth.api_release_notices.released(
        organisation_id=redeemed.organisation_id, client_id=redeemed.client_id,
        client_name=redeemed.client_name, confirmed_by=user.account.id,
        at=portal.clock.now())
    return RedirectResponse(f"{VERIFICATION_PATH}?notice=api_step_up_done", 303)
