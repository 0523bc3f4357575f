"""The client's address behind reverse proxies, believed only from the proxies themselves.

Installed only when `trusted_proxies` is set. A request whose peer is a trusted proxy
has its client taken from X-Forwarded-For, read from the right: each proxy appends the
address it received the request from, so the first address from the right that is not
itself a trusted proxy is the client; anything left of it was written by the client and
proves nothing. A malformed entry stops the walk at the last address known good. A
request from any other peer keeps its own address, whatever headers it sends: limits,
audit entries and allow-lists all see the real peer (they read `scope["client"]`).

X-Forwarded-Proto from a trusted proxy sets the scheme (the proxy terminates TLS).
"""

from __future__ import annotations

import ipaddress

from starlette.types import ASGIApp, Receive, Scope, Send

from rempart.web.networks import Network, contains

_FORWARDED_FOR = b"x-forwarded-for"
_FORWARDED_PROTO = b"x-forwarded-proto"


class TrustedProxyMiddleware:
    def __init__(self, app: ASGIApp, *, networks: tuple[Network, ...]) -> None:
        self.app = app
        self._networks = networks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            if peer and contains(self._networks, peer[0]):
                self._resolve(scope, peer[0])
        await self.app(scope, receive, send)

    def _resolve(self, scope: Scope, peer: str) -> None:
        chain: list[str] = []
        proto = None
        for name, value in scope.get("headers", ()):
            if name == _FORWARDED_FOR:
                chain.extend(part.strip() for part in value.decode("latin-1").split(","))
            elif name == _FORWARDED_PROTO:
                proto = value.decode("latin-1").strip().lower()
        client = client_from_chain(chain, peer, self._networks)
        if client != peer:
            scope["client"] = (client, 0)
        if proto in ("http", "https"):
            scope["scheme"] = proto


def client_from_chain(chain: list[str], peer: str, networks: tuple[Network, ...]) -> str:
    """The rightmost address of `chain` that is not a trusted proxy (the peer when none)."""
    client = peer
    for entry in reversed(chain):
        try:
            address = str(ipaddress.ip_address(entry))
        except ValueError:
            return client  # unparseable: nothing left of it can be trusted either
        client = address
        if not contains(networks, address):
            return client
    return client
