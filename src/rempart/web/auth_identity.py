"""Real authentication behind the identity seam: DPoP tokens for the API, sessions for pages.

`AuthenticatedIdentity` is the app's default `IdentitySource`:

- under /api/ and /fhir/ only an OAuth 2.0 access token bound to a DPoP key is
  accepted (`Authorization: DPoP <token>` plus a `DPoP` proof). A cookie is never
  enough there: the API has no CSRF surface, and a hijacked portal session cannot
  be scripted against it;
- anywhere else, the portal's session cookie, and only once the session has passed
  its second factor: no personal data before it.

Both end as the same `ProviderIdentity`, so the check and claim routes do not know
which one was used.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from rempart.auth.access import require_personal_data_access
from rempart.auth.api_auth import ApiAuthService
from rempart.auth.client import ClientInfo
from rempart.auth.errors import InvalidDpopProof, NotPermitted, SessionInvalid
from rempart.auth.second_factor import device_key
from rempart.auth.sessions import SessionService, SessionView
from rempart.providers.directory import OrganisationDirectory
from rempart.web.cookies import CookiePolicy, client_info
from rempart.web.identity import NotAuthenticated, ProviderIdentity, client_address

API_PREFIXES = ("/api/", "/fhir/")


@dataclass(frozen=True, slots=True)
class PortalSession:
    """A valid session cookie, at whatever level it stands."""

    view: SessionView
    token: str
    client: ClientInfo


class SessionAuthenticator:
    def __init__(self, *, sessions: SessionService, cookies: CookiePolicy,
                 organisations: OrganisationDirectory) -> None:
        self._sessions = sessions
        self._cookies = cookies
        self._organisations = organisations

    def session(self, request: Request) -> PortalSession:
        """The session behind the cookie, or SessionInvalid."""
        token = self._cookies.session_token(request)
        if token is None:
            raise SessionInvalid("no session")
        client = client_info(request, self._cookies)
        view = self._sessions.authenticate(token=token, client=client)
        return PortalSession(view=view, token=token, client=client)

    def identity(self, portal: PortalSession) -> ProviderIdentity:
        """The provider behind a session that passed its second factor."""
        require_personal_data_access(portal.view)
        account = portal.view.account
        if account.organisation_id is None:
            raise NotPermitted("check coverage: operator accounts belong to no organisation")
        return ProviderIdentity(
            account_id=account.id, organisation_id=account.organisation_id,
            professional_id=account.professional_id,
            profession=self._organisations.profession(account.organisation_id),
            session_id=f"portal:{portal.view.id}", client_address=portal.client.address,
            device_id=f"device:{device_key(portal.client.device_token)}")


class DpopAuthenticator:
    def __init__(self, *, api_auth: ApiAuthService,
                 organisations: OrganisationDirectory) -> None:
        self._api_auth = api_auth
        self._organisations = organisations

    def identify(self, request: Request) -> ProviderIdentity:
        authorization = request.headers.get("authorization")
        proofs = request.headers.getlist("dpop")
        if authorization is None and not proofs:
            raise NotAuthenticated
        if len(proofs) > 1:
            raise InvalidDpopProof("more than one DPoP header")
        address = client_address(request)
        principal = self._api_auth.authenticate(
            authorization=authorization, dpop_proof=proofs[0] if proofs else None,
            method=request.method, url=request_url(request), address=address)
        return ProviderIdentity(
            account_id=None, organisation_id=principal.organisation_id, professional_id=None,
            profession=self._organisations.profession(principal.organisation_id),
            session_id=f"api:{principal.client_id}", client_address=address,
            device_id=f"jkt:{principal.jkt}")


def request_url(request: Request) -> str:
    """The URL a DPoP proof must name: this request's, without query or fragment."""
    return str(request.url.replace(query="", fragment=""))


class AuthenticatedIdentity:
    """The default identity source: see the module docstring."""

    def __init__(self, *, sessions: SessionAuthenticator, tokens: DpopAuthenticator,
                 offload: bool) -> None:
        self._sessions = sessions
        self._tokens = tokens
        self._offload = offload

    async def identify(self, request: Request) -> ProviderIdentity:
        if request.url.path.startswith(API_PREFIXES):
            # Always off the event loop: the DPoP check writes its proof's replay entry,
            # and on SQLite a write waits for the lock the check journal's commits hold:
            # inline, the event loop stalled on it (docs/performance.md).
            return await run_in_threadpool(self._tokens.identify, request)
        if self._offload:
            return await run_in_threadpool(self._session_identity, request)
        return self._session_identity(request)

    def _session_identity(self, request: Request) -> ProviderIdentity:
        return self._sessions.identity(self._sessions.session(request))
