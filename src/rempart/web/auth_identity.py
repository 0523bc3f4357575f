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

The DPoP check runs on the event loop when it can be answered from memory: the proofs'
replay entries kept in the process, and the token's signing key, the client's state and
the organisation already known (asked with `in_memory=True`). Anything else (a client
new to the process, a key to read again) raises NotInMemory before the proof is
recorded, and the whole check is made again in a thread of a pool of its own, started
beforehand, where a read may wait for SQLite's lock or a pooled connection without
stalling every other request. The revocation poll is made in the background before it
is due (`ApiClientService.poll_ahead`); a check that finds it overdue anyway (after a
quiet spell) awaits that one poll, then is verified from memory.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from rempart.auth.access import require_personal_data_access
from rempart.auth.api_auth import ApiAuthService, ApiPrincipal
from rempart.auth.client import ClientInfo
from rempart.auth.errors import (
    InvalidAccessToken,
    InvalidDpopProof,
    NotInMemory,
    NotPermitted,
    RevocationPollDue,
    SessionInvalid,
)
from rempart.auth.second_factor import device_key
from rempart.auth.sessions import SessionService, SessionView
from rempart.providers.directory import OrganisationDirectory
from rempart.web.cookies import CookiePolicy, client_info
from rempart.web.identity import (
    NotAuthenticated,
    ProviderIdentity,
    client_address,
    client_network,
)
from rempart.web.worker_threads import started_executor

log = structlog.get_logger(__name__)

API_PREFIXES = ("/api/", "/fhir/")
# Threads for the DPoP checks that need a read: started before the first request and
# kept. The server's shared pool (anyio's) starts a thread when none is idle, on the
# event loop, and ends it after 10 s idle: with most checks answered on the loop its
# threads were gone when a burst of checks needed reads (clients new to the process, a
# key read again), and each thread started on the loop waited for the GIL behind the
# running checks: 40-150 ms each, 1-1.5 s in a row at a first contact of 32 clients
# (load 10; docs/performance.md, "Third trial"). The shared pools' threads are now
# started before serving too (rempart.web.worker_threads); this one stays apart.
FALLBACK_THREADS = 4
T = TypeVar("T")
_fallback_pool: ThreadPoolExecutor | None = None
_fallback_pool_lock = threading.Lock()


def fallback_pool() -> ThreadPoolExecutor:
    """The process's pool for DPoP checks that need a read, its threads all started."""
    global _fallback_pool
    with _fallback_pool_lock:
        if _fallback_pool is None:
            _fallback_pool = started_executor(FALLBACK_THREADS, name="dpop-read")
        return _fallback_pool


async def in_fallback_thread(call: Callable[..., T], /, *args: object) -> T:
    """`call(*args)` in the fallback pool, with the request's context (its log fields)."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(
        fallback_pool(), functools.partial(context.run, call, *args))


@dataclass(frozen=True, slots=True)
class PortalSession:
    """A valid session cookie, at whatever level it stands."""

    view: SessionView
    token: str
    client: ClientInfo
    # The client's autonomous system, where a trusted proxy said it (client_network).
    network: str | None = None


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
        return PortalSession(view=view, token=token, client=client,
                             network=client_network(request))

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
            device_id=f"device:{device_key(portal.client.device_token)}",
            network=portal.network)


class DpopAuthenticator:
    def __init__(self, *, api_auth: ApiAuthService,
                 organisations: OrganisationDirectory) -> None:
        self._api_auth = api_auth
        self._organisations = organisations
        self._in_memory = api_auth.verifies_in_memory
        if self._in_memory:
            fallback_pool()  # its threads started now, off the event loop
        self._poll: asyncio.Future[None] | None = None  # held: not collected mid-run
        # For benchmarks and tests: where the checks were made.
        self.on_loop = 0
        self.in_thread = 0

    async def identify_async(self, request: Request) -> ProviderIdentity:
        """On the event loop: from memory when it can (see the module docstring)."""
        if not self._in_memory:  # every check reads or writes: the server's pool
            self.in_thread += 1
            return await run_in_threadpool(self.identify, request)
        self._start_poll_when_ahead()
        authorization, proof = dpop_headers(request)
        address = client_address(request)

        def from_memory() -> ApiPrincipal:
            return self._api_auth.authenticate(
                authorization=authorization, dpop_proof=proof, method=request.method,
                url=request_url(request), address=address, in_memory=True)

        try:
            try:
                principal = from_memory()
            except RevocationPollDue:
                # Overdue (no API request for a while): wait for the one poll, without
                # holding the loop or a thread, then ask memory again.
                await self._poll_now()
                principal = from_memory()
        except NotInMemory:
            self.in_thread += 1
            return await in_fallback_thread(self.identify, request)
        except (InvalidAccessToken, InvalidDpopProof) as exc:
            # Its security event may be written to the database: off the loop.
            return await in_fallback_thread(self._api_auth.refused, exc, address)
        self.on_loop += 1
        known, profession = self._organisations.known_profession(principal.organisation_id)
        if not known:  # the proof is spent: only the directory is read in a thread
            profession = await in_fallback_thread(self._organisations.profession,
                                                  principal.organisation_id)
        return _api_identity(principal, profession, address, client_network(request))

    def identify(self, request: Request) -> ProviderIdentity:
        """In full, reading what it needs (in a worker thread)."""
        authorization, proof = dpop_headers(request)
        address = client_address(request)
        principal = self._api_auth.authenticate(
            authorization=authorization, dpop_proof=proof,
            method=request.method, url=request_url(request), address=address)
        return _api_identity(principal,
                             self._organisations.profession(principal.organisation_id),
                             address, client_network(request))

    def _start_poll_when_ahead(self) -> None:
        """The revocation poll in a worker thread, started before it is due: the checks
        go on from memory meanwhile, and only one poll runs at a time."""
        if self._running_poll() is None and self._api_auth.revocations_poll_ahead_due():
            self._start_poll()

    async def _poll_now(self) -> None:
        """The poll running, or a new one: done (or failed: then memory says it is still
        due and the check goes to a thread)."""
        await asyncio.wait([self._running_poll() or self._start_poll()])

    def _running_poll(self) -> asyncio.Future[None] | None:
        # Of this loop only: an app served by several loops in turn (tests) may hold one
        # from a loop since closed, which would never be done.
        poll = self._poll
        if poll is None or poll.done() or poll.get_loop() is not asyncio.get_running_loop():
            return None
        return poll

    def _start_poll(self) -> asyncio.Future[None]:
        poll = asyncio.get_running_loop().run_in_executor(
            None, self._api_auth.poll_revocations_ahead)
        poll.add_done_callback(_log_poll_failure)
        self._poll = poll
        return poll


def _log_poll_failure(poll: asyncio.Future[None]) -> None:
    # Nobody awaits the poll: a failure is said here (the checks then fall back to the
    # thread pool once the poll is overdue, and poll there).
    if not poll.cancelled() and (exc := poll.exception()) is not None:
        log.warning("revocation poll failed", error_type=type(exc).__name__)


def dpop_headers(request: Request) -> tuple[str | None, str | None]:
    """(Authorization, DPoP proof), NotAuthenticated without either."""
    authorization = request.headers.get("authorization")
    proofs = request.headers.getlist("dpop")
    if authorization is None and not proofs:
        raise NotAuthenticated
    if len(proofs) > 1:
        raise InvalidDpopProof("more than one DPoP header")
    return authorization, proofs[0] if proofs else None


def _api_identity(principal: ApiPrincipal, profession: str | None,
                  address: str | None, network: str | None) -> ProviderIdentity:
    return ProviderIdentity(
        account_id=None, organisation_id=principal.organisation_id, professional_id=None,
        profession=profession, session_id=f"api:{principal.client_id}",
        client_address=address, device_id=f"jkt:{principal.jkt}", network=network)


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

    @property
    def dpop(self) -> DpopAuthenticator:
        return self._tokens

    async def identify(self, request: Request) -> ProviderIdentity:
        if request.url.path.startswith(API_PREFIXES):
            return await self._tokens.identify_async(request)
        if self._offload:
            return await run_in_threadpool(self._session_identity, request)
        return self._session_identity(request)

    def _session_identity(self, request: Request) -> ProviderIdentity:
        return self._sessions.identity(self._sessions.session(request))
