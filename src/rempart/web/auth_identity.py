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
from typing import NoReturn

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from rempart.auth.access import require_personal_data_access
from rempart.auth.api_auth import ApiAuthService, ApiPrincipal
from rempart.auth.client import ClientInfo
from rempart.auth.errors import InvalidAccessToken, InvalidDpopProof, NotPermitted, SessionInvalid
from rempart.auth.second_factor import device_key
from rempart.auth.sessions import SessionService, SessionView
from rempart.core.errors import NotInMemory
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

    @property
    def verification_waits(self) -> bool:
        """See ApiAuthService.verification_waits."""
        return self._api_auth.verification_waits

    def identify(self, request: Request) -> ProviderIdentity:
        """The API caller, a refusal recorded (waited for: not on the event loop)."""
        try:
            authorization, proof = _credentials(request)
        except InvalidDpopProof as exc:
            self._record_refusal(request, exc)
        address = client_address(request)
        principal = self._api_auth.authenticate(
            authorization=authorization, dpop_proof=proof, method=request.method,
            url=request_url(request), address=address)
        return self._identity(principal, address,
                              self._organisations.profession(principal.organisation_id))

    async def identify_on_loop(self, request: Request) -> ProviderIdentity:
        """identify() on the event loop, for a replay store in this process
        (`verification_waits` false): verified from memory alone, and whatever would
        read the database (a client, signing key or organisation not yet known, the
        revocation poll due) or write it (a refusal's security event, waited for the
        group commit) is done by a worker thread instead."""
        address = client_address(request)
        try:
            authorization, proof = _credentials(request)
            principal = self._api_auth.verify(
                authorization=authorization, dpop_proof=proof, method=request.method,
                url=request_url(request), in_memory=True)
        except NotInMemory:
            # Raised before the proof's replay entry is made: verified again in full.
            return await run_in_threadpool(self.identify, request)
        except (InvalidAccessToken, InvalidDpopProof) as exc:
            await run_in_threadpool(self._record_refusal, request, exc)
            raise
        organisation_id = principal.organisation_id
        try:
            profession = self._organisations.profession(organisation_id, in_memory=True)
        except NotInMemory:
            profession = await run_in_threadpool(self._organisations.profession,
                                                 organisation_id)
        return self._identity(principal, address, profession)

    def _record_refusal(self, request: Request,
                        exc: InvalidAccessToken | InvalidDpopProof) -> NoReturn:
        self._api_auth.record_refusal(exc, address=client_address(request))

    @staticmethod
    def _identity(principal: ApiPrincipal, address: str | None,
                  profession: str | None) -> ProviderIdentity:
        return ProviderIdentity(
            account_id=None, organisation_id=principal.organisation_id, professional_id=None,
            profession=profession, session_id=f"api:{principal.client_id}",
            client_address=address, device_id=f"jkt:{principal.jkt}")


def _credentials(request: Request) -> tuple[str | None, str | None]:
    """The request's Authorization and DPoP headers, or NotAuthenticated / InvalidDpopProof."""
    authorization = request.headers.get("authorization")
    proofs = request.headers.getlist("dpop")
    if authorization is None and not proofs:
        raise NotAuthenticated
    if len(proofs) > 1:
        raise InvalidDpopProof("more than one DPoP header")
    return authorization, proofs[0] if proofs else None


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
            if self._tokens.verification_waits:
                # Off the event loop: the DPoP check writes its proof's replay entry (to
                # the database, where on SQLite a write waits for the lock the check
                # journal's commits hold, or to Redis): inline, the loop stalled on it
                # (docs/performance.md).
                return await run_in_threadpool(self._tokens.identify, request)
            return await self._tokens.identify_on_loop(request)
        if self._offload:
            return await run_in_threadpool(self._session_identity, request)
        return self._session_identity(request)

    def _session_identity(self, request: Request) -> ProviderIdentity:
        return self._sessions.identity(self._sessions.session(request))
