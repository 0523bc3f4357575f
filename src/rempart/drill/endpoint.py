"""Where the drill's HTTP goes: the app in process (an ASGI transport, each agent its own
client address) or a running instance on loopback (real HTTP; each agent's address in
X-Forwarded-For, as the reverse proxy in front of a deployment sends it).

A target outside loopback is refused before any request: the drill logs in with
synthetic credentials and fires attacks, which must never reach a real service.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from rempart.drill.errors import DrillError

IN_PROCESS_URL = "https://rempart.test"


class Endpoint(Protocol):
    @property
    def base_url(self) -> str:
        """The instance's public origin: what DPoP proofs and Origin headers name."""
        ...

    def client(self, *, address: str, agent: str) -> httpx.AsyncClient:
        """An HTTP client seen by the instance as coming from `address`."""
        ...


@dataclass(frozen=True)
class InProcess:
    app: Any
    base_url: str = IN_PROCESS_URL

    def client(self, *, address: str, agent: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app,
                                                               client=(address, 443)),
                                 base_url=self.base_url, headers={"user-agent": agent},
                                 follow_redirects=False)


@dataclass(frozen=True)
class Loopback:
    base_url: str  # as the operator gave it (the instance's configured origin)
    connect_url: str  # the same with the host pinned to the loopback address it resolved to

    def client(self, *, address: str, agent: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.connect_url, follow_redirects=False, timeout=30.0,
            headers={"user-agent": agent, "x-forwarded-for": address,
                     "host": urlsplit(self.base_url).netloc})


def loopback_target(url: str) -> Loopback:
    """The target, if it is an http(s) origin whose host resolves only to loopback."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DrillError(f"--target must be an http:// or https:// URL, not {url!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise DrillError("--target must be an origin only (scheme, host, port), "
                         "e.g. http://127.0.0.1:8000")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise DrillError("--target has an invalid port") from None
    addresses = _resolve(parts.hostname, port)
    outside = [a for a in addresses if not a.is_loopback]
    if not addresses or outside:
        raise DrillError(f"--target {parts.hostname} is not on loopback (127.0.0.0/8 or ::1): "
                         "the drill attacks what it targets, so it only targets this machine")
    origin = f"{parts.scheme}://{parts.netloc}"
    if parts.scheme == "https":
        return Loopback(base_url=origin, connect_url=origin)  # the certificate names the host
    # Plain HTTP connects to the address checked here, so the name cannot resolve
    # elsewhere between the check and the requests.
    pinned = str(addresses[0])
    host = f"[{pinned}]" if addresses[0].version == 6 else pinned
    return Loopback(base_url=origin, connect_url=f"{parts.scheme}://{host}:{port}")


def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]
