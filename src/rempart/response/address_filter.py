"""Selecting audit entries by client address range (CIDR), on any backend.

Addresses are stored as normalised text, so a range becomes SQL patterns that every
address in it matches: an IPv4 range is cut at an octet boundary into at most 128
`a.b.c.%`-style patterns (exact for any prefix length); an IPv6 range keeps its first
group when that group is not zero. The patterns narrow the rows read; `matches` then
decides exactly, so a pattern never has to be exact.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ANY_IPV4 = "%.%"
ANY_IPV6 = "%:%"


@dataclass(frozen=True)
class AddressFilter:
    networks: tuple[IPNetwork, ...]

    @classmethod
    def of(cls, cidrs: tuple[str, ...]) -> AddressFilter:
        return cls(tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs))

    def patterns(self) -> list[str]:
        """SQL LIKE patterns (no wildcard other than a trailing %) covering the ranges."""
        found: list[str] = []
        for network in self.networks:
            found.extend(_patterns(network))
        return sorted(set(found))

    def matches(self, address: str | None) -> bool:
        if not address:
            return False
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(parsed.version == net.version and parsed in net for net in self.networks)


def _patterns(network: IPNetwork) -> list[str]:
    if isinstance(network, ipaddress.IPv6Network):
        first = network.network_address.exploded.split(":")[0]
        if network.prefixlen >= 16 and int(first, 16):
            return [f"{int(first, 16):x}:%"]
        return [ANY_IPV6]
    if network.prefixlen == 0:
        return [ANY_IPV4]
    octets = network.network_address.packed
    fixed, rest = divmod(network.prefixlen, 8)
    if rest == 0:
        head = ".".join(str(o) for o in octets[:fixed])
        return [head] if fixed == 4 else [head + ".%"]
    # The next octet takes 2**(8 - rest) values: one pattern (or address) per value.
    fixed_octets = [str(o) for o in octets[:fixed]]
    start = octets[fixed]
    values = range(start, start + 2 ** (8 - rest))
    if fixed == 3:
        return [".".join([*fixed_octets, str(v)]) for v in values]
    return [".".join([*fixed_octets, str(v)]) + ".%" for v in values]
