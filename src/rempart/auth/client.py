"""What the service knows of the client behind a request, and how it compares.

A browser carries a long-lived device token (a cookie set by the portal): sessions are
bound to it, so a session cookie replayed from another browser is refused. The user
agent and the address's network are a softer fingerprint: when they change within a
session, the session must pass a second factor again (step-up) instead of failing,
because addresses do change honestly.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
from dataclasses import dataclass, replace

from rempart.auth.errors import InvalidInput
from rempart.auth.tokens import new_token

MAX_AGENT_LENGTH = 512
MAX_TOKEN_LENGTH = 128
IPV4_PREFIX = 24
IPV6_PREFIX = 48


@dataclass(frozen=True, slots=True)
class ClientInfo:
    address: str
    user_agent: str = ""
    device_token: str | None = None

    def __post_init__(self) -> None:
        if len(self.user_agent) > MAX_AGENT_LENGTH:
            raise InvalidInput("user_agent", f"longer than {MAX_AGENT_LENGTH} characters")
        if len(self.address) > 64:
            raise InvalidInput("address", "not an address")
        if self.device_token is not None and len(self.device_token) > MAX_TOKEN_LENGTH:
            raise InvalidInput("device_token", "malformed")

    def with_device_token(self) -> ClientInfo:
        """This client, given a new device token if it carries none (a first login from
        this browser): a login binds its session to it from the first step to the last,
        and the answer hands it to the browser."""
        if self.device_token:
            return self
        return replace(self, device_token=new_token())

    @property
    def agent_hash(self) -> bytes:
        return hashlib.sha256(self.user_agent.encode("utf-8")).digest()

    @property
    def network(self) -> str:
        return network_of(self.address)

    @property
    def label(self) -> str:
        return describe_agent(self.user_agent)


# Asked on every portal request, about the few addresses a session comes from.
@functools.lru_cache(maxsize=4096)
def network_of(address: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) holding the address; 'unknown' if it is not one."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "unknown"
    prefix = IPV4_PREFIX if ip.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


_BROWSERS = (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Safari/", "Safari"))
_SYSTEMS = (("Windows", "Windows"), ("Android", "Android"), ("iPad", "iPadOS"),
            ("iPhone", "iOS"), ("Mac OS X", "macOS"), ("Linux", "Linux"))


def describe_agent(user_agent: str) -> str:
    """A short label ("Firefox on Windows") for lists of sessions and devices."""
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), "browser")
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), "")
    return f"{browser} on {system}" if system else browser
