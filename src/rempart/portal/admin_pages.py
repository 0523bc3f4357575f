"""The organisation admin's page: the organisation's accounts (suspend, reactivate),
their open sessions (end one), invitations, the practice-software API clients
(register, revoke), and who may confirm their step-up codes
(rempart.auth.api_step_up_policy: admins only, or any user).

Ending a colleague's session, registering or revoking an API client, and changing who
confirms its codes, need a second factor passed within the last minutes
(require_recent_second_factor): an older session is sent to step up first.
Sessions are listed with what the account's own security page shows, but the address
cut to its network (/24 or /48): the admin needs to tell a session in the pharmacy from
one elsewhere, not the colleague's exact address.
A new client's secret and a new invitation's link are shown once, on the answer page.

A lost passkey: the admin removes a member's passkeys (never their own), with a recent
second factor of their own (rempart.auth.passkey_removal: the member's sessions end,
the member is told, and signs in with TOTP or a recovery code to create a new one).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from rempart.auth.access import require_recent_second_factor
from rempart.auth.api_step_up_policy import Approvers
from rempart.auth.client import network_of
from rempart.auth.errors import AccountConflict, InvalidInput, NotPermitted
from rempart.auth.roles import Role
from rempart.auth.tokens import ContactFields
from rempart.portal.access import (
    CSRF_FIELD,
    PortalUser,
    SignedIn,
    portal_of,
    require_csrf,
    signed_out,
)
from rempart.portal.i18n import Translator, language_of
from rempart.web.forms import RawForm, parse_form, raw_form
from rempart.web.identity import client_address

router = APIRouter(prefix="/portal/admin", include_in_schema=False)
Form = Annotated[RawForm, Depends(raw_form)]
CSRF_ONLY = {CSRF_FIELD: 128}
INVITE_FIELDS = {"email": 254, "display_name": 200, "role": 32, CSRF_FIELD: 128}
CLIENT_FIELDS = {"name": 100, CSRF_FIELD: 128}
APPROVERS_FIELDS = {"approvers": 12, CSRF_FIELD: 128}
INVITABLE = (Role.PROVIDER_USER, Role.ORGANISATION_ADMIN)


def _organisation(user: PortalUser) -> int:
    if user.account.role is not Role.ORGANISATION_ADMIN or user.account.organisation_id is None:
        raise NotPermitted("administer an organisation")
    return user.account.organisation_id


def _admin_page(request: Request, user: PortalUser, *, status: int = 200,
                **context: Any) -> Response:
    portal = portal_of(request)
    organisation_id = _organisation(user)
    members = [(view, portal.auth.accounts.contact(view.id))
               for view in portal.auth.accounts.in_organisation(organisation_id)]
    sessions = [(contact, session, network_of(session.address))
                for view, contact in members
                for session in portal.auth.sessions.list_for_account(view.id)]
    clients = portal.auth.api_clients.for_organisation(actor=user.actor,
                                                       organisation_id=organisation_id)
    values: dict[str, Any] = {"invitation": None, "registered": None, "error": None}
    values.update(context)
    return portal.templates.page(
        request, "admin.html", status=status, account=user.account, csrf=user.csrf,
        section="admin", members=members, clients=clients, sessions=sessions,
        current_session=user.view.id,
        roles=[r.value for r in INVITABLE], approver_choices=[a.value for a in Approvers],
        approvers=portal.auth.api_step_up_policies.approvers(
            organisation_id=organisation_id).value,
        passkey_holders=_passkey_holders(request, user, members), **values)


def _require_recent(request: Request, user: PortalUser) -> None:
    portal = portal_of(request)
    require_recent_second_factor(user.view, now=portal.clock.now(),
                                 within_seconds=portal.auth.settings.recent_auth_seconds)


def _posted(request: Request, raw: RawForm, user: PortalUser, *,
            limits: dict[str, int] = CSRF_ONLY, recent: bool = True) -> tuple[dict[str, str], int]:
    """A form posted to this page: its fields within `limits`, its CSRF token checked, the
    admin's organisation, and (`recent`) a second factor passed within the last minutes."""
    form = parse_form(raw, limits=limits)
    require_csrf(request, user.session, form.get(CSRF_FIELD))
    organisation_id = _organisation(user)
    if recent:
        _require_recent(request, user)
    return form, organisation_id


@router.get("")
def admin_page(request: Request, user: SignedIn) -> Response:
    return _admin_page(request, user)


@router.post("/invitations")
def invite(request: Request, raw: Form, user: SignedIn) -> Response:
    portal = portal_of(request)
    form, organisation_id = _posted(request, raw, user, limits=INVITE_FIELDS, recent=False)
    t = Translator(language_of(request))
    role = form.get("role", "")
    if role not in {r.value for r in INVITABLE}:
        return _admin_page(request, user, status=400, error=t("error.field",
                                                              field=t("field.role")))
    try:
        issued = portal.auth.invitations.invite(
            actor=user.actor, contact=ContactFields(form.get("email", "").strip(),
                                                    form.get("display_name", "").strip()),
            role=Role(role), organisation_id=organisation_id)
    except InvalidInput as exc:
        return _admin_page(request, user, status=400,
                           error=t("error.field", field=t(f"field.{exc.field}")))
    except AccountConflict:
        return _admin_page(request, user, status=409, error=t("admin.account_exists"))
    link = f"{request.base_url}portal/invitation/{issued.token}"
    return _admin_page(request, user, invitation={"link": link, "expires": issued.expires_at})


@router.post("/accounts/{account_id}/{action}")
def manage_account(request: Request, account_id: int, action: str, raw: Form,
                   user: SignedIn) -> Response:
    portal = portal_of(request)
    _posted(request, raw, user, recent=False)
    if action == "suspend" and account_id != user.account.id:
        portal.auth.accounts.suspend(actor=user.actor, account_id=account_id,
                                     reason="organisation_admin")
    elif action == "reactivate":
        portal.auth.accounts.reactivate(actor=user.actor, account_id=account_id)
        if portal.guard is not None:  # the guard starts the account's recent record afresh
            portal.guard.restore_account(account_id=account_id)
    else:
        raise NotPermitted(f"{action[:20]} this account")
    notice = "account_suspended" if action == "suspend" else "account_reactivated"
    return RedirectResponse(f"/portal/admin?notice={notice}", 303)


@router.post("/sessions/{session_id}/end")
def end_session(request: Request, session_id: int, raw: Form, user: SignedIn) -> Response:
    """End one session of the organisation's (SessionService.end_as_admin refuses any
    other); an audited security event naming the admin."""
    portal = portal_of(request)
    _posted(request, raw, user)
    portal.auth.sessions.end_as_admin(actor=user.actor, session_id=session_id,
                                      client=user.session.client)
    if session_id == user.view.id:
        return signed_out(portal)
    return RedirectResponse("/portal/admin?notice=session_ended_other", 303)


@router.post("/api-clients")
def register_client(request: Request, raw: Form, user: SignedIn) -> Response:
    portal = portal_of(request)
    form, organisation_id = _posted(request, raw, user, limits=CLIENT_FIELDS)
    t = Translator(language_of(request))
    try:
        registered = portal.auth.api_clients.register(
            actor=user.actor, organisation_id=organisation_id, name=form.get("name", ""))
    except InvalidInput:
        return _admin_page(request, user, status=400,
                           error=t("error.field", field=t("field.client_name")))
    return _admin_page(request, user, registered=registered)


@router.post("/api-clients/{client_id}/revoke")
def revoke_client(request: Request, client_id: str, raw: Form, user: SignedIn) -> Response:
    portal = portal_of(request)
    _posted(request, raw, user)
    portal.auth.api_clients.revoke(actor=user.actor, client_id=client_id[:40])
    return RedirectResponse("/portal/admin?notice=client_revoked", 303)


@router.post("/api-step-up-policy")
def set_api_step_up_policy(request: Request, raw: Form, user: SignedIn) -> Response:
    """Who may confirm the organisation's software codes: a change is a security event."""
    portal = portal_of(request)
    form, organisation_id = _posted(request, raw, user, limits=APPROVERS_FIELDS)
    try:
        portal.auth.api_step_up_policies.set(
            actor=user.actor, organisation_id=organisation_id,
            approvers=form.get("approvers", ""), session_id=user.view.id,
            address=client_address(request))
    except InvalidInput:
        t = Translator(language_of(request))
        return _admin_page(request, user, status=400,
                           error=t("error.field", field=t("admin.approvers_label")))
    return RedirectResponse("/portal/admin?notice=approvers_saved", 303)


# -- a member's lost passkey -------------------------------------------------------------


def _passkey_holders(request: Request, user: PortalUser,
                     members: list[tuple[Any, ContactFields]]) -> list[tuple[Any, ContactFields,
                                                                            int]]:
    """The members (not the admin) holding passkeys, with how many."""
    passkeys = portal_of(request).auth.passkeys
    held = [(view, contact, passkeys.count(view.id)) for view, contact in members
            if view.id != user.account.id]
    return [entry for entry in held if entry[2]]


@router.post("/accounts/{account_id}/passkeys/remove")
def remove_passkeys(request: Request, account_id: int, raw: Form, user: SignedIn) -> Response:
    portal = portal_of(request)
    _posted(request, raw, user)
    portal.auth.passkey_removal.remove_all(actor=user.actor, actor_method=user.view.method,
                                           account_id=account_id,
                                           session_id=user.view.id,
                                           address=client_address(request))
    return RedirectResponse("/portal/admin?notice=passkeys_removed", 303)
