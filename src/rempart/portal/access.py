"""Who is on a portal page: dependencies for routes, and the CSRF checks.

`AnySession` is a valid session at any level (for the second-factor and enrolment
pages); `SignedIn` has passed its second factor (no personal data before it);
`Provider` is a signed-in provider of an organisation (operators have none).
A state-changing form carries the session's CSRF token; the anonymous ones (login,
invitation) carry a double-submit token from their own cookie.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.responses import RedirectResponse, Response

from rempart.auth.access import require_personal_data_access
from rempart.auth.accounts import AccountView
from rempart.auth.errors import NotPermitted
from rempart.auth.roles import Actor
from rempart.auth.sessions import SessionView
from rempart.core.errors import RempartError
from rempart.portal.state import Portal
from rempart.web.auth_identity import PortalSession
from rempart.web.identity import ProviderIdentity, client_address

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
DEFAULT_NEXT = "/portal/check"


class CsrfRefused(RempartError):
    def __init__(self) -> None:
        super().__init__("this form has expired or did not come from this site: "
                         "reload the page and try again")


def portal_of(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


def signed_out(portal: Portal) -> Response:
    """The answer to a browser whose own session just ended: to the login page, its
    session cookie cleared."""
    response = RedirectResponse("/portal/login?notice=signed_out", 303)
    portal.cookies.clear_session(response)
    return response


def any_session(request: Request) -> PortalSession:
    return portal_of(request).sessions.session(request)


@dataclass(frozen=True, slots=True)
class PortalUser:
    session: PortalSession
    identity: ProviderIdentity | None  # None for operator accounts
    csrf: str

    @property
    def view(self) -> SessionView:
        return self.session.view

    @property
    def account(self) -> AccountView:
        return self.session.view.account

    @property
    def actor(self) -> Actor:
        return self.session.view.account.actor

    @property
    def requester(self) -> ProviderIdentity:
        """The provider identity for checks and claims; operators have none."""
        if self.identity is None:
            raise NotPermitted("use the provider pages: operator accounts belong to no "
                               "organisation")
        return self.identity


def signed_in(request: Request) -> PortalUser:
    portal = portal_of(request)
    session = portal.sessions.session(request)
    require_personal_data_access(session.view)
    identity = (portal.sessions.identity(session)
                if session.view.account.organisation_id is not None else None)
    return PortalUser(session=session, identity=identity,
                      csrf=portal.auth.sessions.csrf_token(session.token))


def provider(user: Annotated[PortalUser, Depends(signed_in)]) -> PortalUser:
    user.requester  # noqa: B018 (raises NotPermitted for an operator)
    return user


AnySession = Annotated[PortalSession, Depends(any_session)]
SignedIn = Annotated[PortalUser, Depends(signed_in)]
Provider = Annotated[PortalUser, Depends(provider)]


def require_csrf(request: Request, session: PortalSession, presented: str | None) -> None:
    """The session's CSRF token must come back with the form (or the X-CSRF-Token header)."""
    portal = portal_of(request)
    _same_site(request, portal)
    try:
        portal.auth.sessions.check_csrf(token=session.token, presented=presented)
    except RempartError:
        portal.refused(reason="csrf", address=client_address(request),
                       account_id=session.view.account.id, session_id=session.view.id)
        raise CsrfRefused from None


def require_anonymous_csrf(request: Request, presented: str | None) -> None:
    """Double submit: the form's token must equal the one in the page's own cookie."""
    portal = portal_of(request)
    _same_site(request, portal)
    expected = portal.cookies.csrf_cookie(request)
    if not expected or not presented or not hmac.compare_digest(
            expected.encode(), presented.encode("utf-8", "replace")):
        portal.refused(reason="csrf", address=client_address(request))
        raise CsrfRefused


def _same_site(request: Request, portal: Portal) -> None:
    """Browsers say where a request comes from: refuse another site's, whatever it carries."""
    if request.headers.get("sec-fetch-site", "same-origin") in ("cross-site", "same-site"):
        portal.refused(reason="cross_site", address=client_address(request))
        raise CsrfRefused
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        portal.refused(reason="cross_origin", address=client_address(request))
        raise CsrfRefused


def safe_next(value: str | None) -> str:
    """A local portal path to go to after a step, never another site."""
    if value and value.startswith("/portal/") and "//" not in value and "\\" not in value \
            and len(value) <= 200 and value.isascii() and not value.startswith("/portal/static"):
        return value.split("?")[0]
    return DEFAULT_NEXT
