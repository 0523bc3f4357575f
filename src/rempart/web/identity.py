"""The identity seam: who is asking, as one object built by one pluggable source.

Every route gets its `ProviderIdentity` from the app's `IdentitySource` and from
nowhere else, so the authentication issue replaces one object (sessions and
sender-constrained tokens) without touching a route. Until then:

- `StaticIdentity` answers one fixed identity (tests and tools);
- `DemoHeaderIdentity` trusts an `X-Rempart-Demo-Organisation` header, and optionally
  `X-Rempart-Demo-Session` (a session name) and `X-Rempart-Demo-Address` (the client
  address), so that a benchmark can play many providers' sessions from one machine. It
  is a demo convenience that anyone could forge, so it can only be built from settings
  that explicitly say demo mode, and is never a default. It stands beside the app's real
  authentication, never instead of it: a request without the header is authenticated
  as in any instance (so a demo, or the benchmark, can also use real credentials).
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, replace
from typing import Protocol

from sqlalchemy import Engine, select
from starlette.requests import Request

from rempart.core.errors import RempartError
from rempart.providers.models import Organisation
from rempart.settings import Settings
from rempart.web.proxies import NETWORK_SCOPE_KEY

DEMO_HEADER = "x-rempart-demo-organisation"
DEMO_SESSION_HEADER = "x-rempart-demo-session"
DEMO_ADDRESS_HEADER = "x-rempart-demo-address"
MAX_DEMO_SESSION = 40


class NotAuthenticated(RempartError):
    """No acceptable identity came with the request."""

    def __init__(self) -> None:
        super().__init__("authentication required")


class DemoModeRequired(RempartError):
    def __init__(self) -> None:
        super().__init__("the demo identity header is only available in demo mode")


@dataclass(frozen=True, slots=True)
class ProviderIdentity:
    """An authenticated provider; satisfies `rempart.disclosure.Requester`."""

    account_id: int | None
    organisation_id: int
    professional_id: int | None
    profession: str | None
    session_id: str | None
    client_address: str | None
    device_id: str | None
    # The client's autonomous system, where a trusted proxy said it (client_network).
    network: str | None = None


class IdentitySource(Protocol):
    async def identify(self, request: Request) -> ProviderIdentity:
        """The identity behind the request, or raise NotAuthenticated."""
        ...


def client_address(request: Request) -> str | None:
    """The peer's IP address, or None when the transport gave something else."""
    host = request.client.host if request.client else None
    return None if host is None else _normal_address(host)


def client_network(request: Request) -> str | None:
    """The client's autonomous system ("AS64500"), where a trusted proxy said it: set by
    rempart.web.proxies from its header, never read from a header here."""
    found = request.scope.get(NETWORK_SCOPE_KEY)
    return found if isinstance(found, str) else None


# A client keeps its address: parse it once. The demo address header goes through the
# same cache (a benchmark names thousands of addresses, each many times).
@functools.lru_cache(maxsize=65_536)
def _normal_address(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


class StaticIdentity:
    """Always the same provider, seen from the request's own address."""

    def __init__(self, identity: ProviderIdentity) -> None:
        self._identity = identity

    async def identify(self, request: Request) -> ProviderIdentity:
        return replace(self._identity, client_address=client_address(request),
                       network=client_network(request))


class DemoHeaderIdentity:
    """The organisation named by a header (its internal id): demo mode only."""

    def __init__(self, *, settings: Settings, engine: Engine,
                 otherwise: IdentitySource | None = None) -> None:
        if not settings.demo_mode:
            raise DemoModeRequired
        self._settings = settings
        self._engine = engine
        self._otherwise = otherwise
        self._professions: dict[int, str] = {}

    def beside(self, otherwise: IdentitySource) -> DemoHeaderIdentity:
        """The same header, with `otherwise` answering requests that do not carry it."""
        return DemoHeaderIdentity(settings=self._settings, engine=self._engine,
                                  otherwise=otherwise)

    async def identify(self, request: Request) -> ProviderIdentity:
        raw = request.headers.get(DEMO_HEADER)
        if raw is None and self._otherwise is not None:
            return await self._otherwise.identify(request)
        raw = raw or ""
        if not raw.isdigit() or len(raw) > 9:
            raise NotAuthenticated
        organisation_id = int(raw)
        profession = self._profession(organisation_id)
        session = request.headers.get(DEMO_SESSION_HEADER)
        if session is not None and not (0 < len(session) <= MAX_DEMO_SESSION
                                        and session.replace("-", "").isalnum()):
            raise NotAuthenticated
        return ProviderIdentity(
            account_id=None, organisation_id=organisation_id, professional_id=None,
            profession=profession, session_id=f"demo:{session}" if session else None,
            client_address=_demo_address(request), device_id=None,
            network=client_network(request))

    def _profession(self, organisation_id: int) -> str:
        profession = self._professions.get(organisation_id)
        if profession is None:
            # The first miss reads every organisation (a few thousand rows), not one
            # per organisation's first request: the benchmark spreads over all of them.
            query = select(Organisation.id, Organisation.profession)
            if self._professions:
                query = query.where(Organisation.id == organisation_id)
            with self._engine.connect() as conn:
                self._professions.update(
                    (int(row[0]), str(row[1])) for row in conn.execute(query))
            profession = self._professions.get(organisation_id)
            if profession is None:
                raise NotAuthenticated
        return profession


def _demo_address(request: Request) -> str | None:
    raw = request.headers.get(DEMO_ADDRESS_HEADER)
    if raw is None:
        return client_address(request)
    address = _normal_address(raw)
    if address is None:
        raise NotAuthenticated
    return address
