"""Address blocks: the /24 (IPv4) or /64 (IPv6) an address belongs to.

One household or practice usually sits in one block, and an attacker renting many
addresses often gets neighbours, so limits and session binding look at the block.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_DOTTED_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}", re.ASCII)


@lru_cache(maxsize=65536)
def address_block(address: str) -> str:
    """The block of an address, as text. A value that is no IP address (a test client's
    host name, a Unix socket) is its own block, so it is still limited and bound."""
    if _DOTTED_IPV4.fullmatch(address):
        # Plain dotted IPv4, nearly every address: the same text as ipaddress gives, at
        # a fraction of its cost (each new client address costs a parse). Each part a
        # decimal octet as ipaddress accepts it: ASCII digits, no leading zero, <= 255
        # (one match, not calls per part: every new client address comes here).
        return address.rpartition(".")[0] + ".0/24"
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return f"host:{address}"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))

