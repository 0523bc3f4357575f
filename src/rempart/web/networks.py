"""Address lists from settings: CIDRs parsed once, a bad entry named at start-up."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from rempart.core.errors import ConfigurationError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(setting: str, values: Iterable[str]) -> tuple[Network, ...]:
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ConfigurationError(f"{setting}: {value!r} is not an address or CIDR "
                                     "network") from None
    return tuple(networks)


def contains(networks: tuple[Network, ...], address: str | None) -> bool:
    if address is None:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
