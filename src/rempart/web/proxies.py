"""The client's address behind reverse proxies, believed only from the proxies themselves.

Installed only when `trusted_proxies` is set. A request whose peer is a trusted proxy
has its client taken from X-Forwarded-For, read from the right: each proxy appends the
address it received the request from, so the first address from the right that is not
itself a trusted proxy is the client; anything left of it was written by the client and
proves nothing. A malformed entry stops the walk at the last address known good. A
request from any other peer keeps its own address, whatever headers it sends: limits,
audit entries and allow-lists all see the real peer (they read `scope["client"]`).

X-Forwarded-Proto from a trusted proxy sets the scheme (the proxy terminates TLS).

The client's autonomous system (AS), where the deployment names a header for it
(`REMPART_NETWORK_HEADER`, e.g. X-Rempart-ASN set by nginx's GeoIP2 module from an ASN
database, deploy/nginx.conf), is believed on the same terms: from a trusted proxy only,
put in the request's scope (NETWORK_SCOPE_KEY) as "AS<number>" for the guard's limits
and session binding (docs/guard.md, "Autonomous systems"). From any other peer the
header is ignored. A value that is not an AS number (`AS64500` or `64500`, 1 to
4294967295) is ignored and logged, without the value or the client.
"""

from __future__ import annotations

import ipaddress
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from rempart.web.networks import Network, contains

_FORWARDED_FOR = b"x-forwarded-for"
_FORWARDED_PROTO = b"x-forwarded-proto"
# Where the client's AS, as a trusted proxy gave it, waits for rempart.web.identity.
NETWORK_SCOPE_KEY = "rempart.network"
# "AS" and up to ten digits: 4294967295 (32-bit AS numbers) is the largest.
_MAX_ASN = 4_294_967_295
# What an ASN database answers for an address it does not hold: unknown, not malformed.
_UNKNOWN = frozenset(("", "-", "0", "as0"))

_log = logging.getLogger(__name__)


def parse_network(raw: str) -> str | None:
    """"AS<number>" from an AS header's value (`AS64500`, `as64500`, `64500`), or None
    when it names none (an empty or malformed value, AS0, out of range)."""
    value = raw.strip()
    digits = value[2:] if value[:2].lower() == "as" else value
    if not (0 < len(digits) <= 10 and digits.isascii() and digits.isdigit()):
        return None
    number = int(digits)
    return f"AS{number}" if 0 < number <= _MAX_ASN else None


class TrustedProxyMiddleware:
    def __init__(self, app: ASGIApp, *, networks: tuple[Network, ...],
                 network_header: str | None = None) -> None:
        self.app = app
        self._networks = networks
        self._header_name = (network_header or "").strip().lower()
        self._network_header = self._header_name.encode("latin-1") or None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            if peer and contains(self._networks, peer[0]):
                self._resolve(scope, peer[0])
        await self.app(scope, receive, send)

    def _resolve(self, scope: Scope, peer: str) -> None:
        chain: list[str] = []
        proto = None
        asn: list[bytes] = []
        for name, value in scope.get("headers", ()):
            if name == _FORWARDED_FOR:
                chain.extend(part.strip() for part in value.decode("latin-1").split(","))
            elif name == _FORWARDED_PROTO:
                proto = value.decode("latin-1").strip().lower()
            elif name == self._network_header:
                asn.append(value)
        if asn:
            self._note_network(scope, asn)
        client = client_from_chain(chain, peer, self._networks)
        if client != peer:
            scope["client"] = (client, 0)
        if proto in ("http", "https"):
            scope["scheme"] = proto


    def _note_network(self, scope: Scope, values: list[bytes]) -> None:
        raw = values[0]
        text = raw[:32].decode("latin-1")
        # Twice is ambiguous (a client's copy passed on beside the proxy's): neither.
        network = parse_network(text) if len(raw) <= 32 and len(values) == 1 else None
        if network is not None:
            scope[NETWORK_SCOPE_KEY] = network
        elif len(values) > 1 or text.strip().lower() not in _UNKNOWN:
            # Neither the value nor the client: a proxy misconfigured, not a person.
            _log.warning("network header from a trusted proxy is not one AS number; ignored",
                         extra={"header": self._header_name, "length": len(raw),
                                "values": len(values)})


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
