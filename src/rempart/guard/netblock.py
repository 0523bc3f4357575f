"""Address blocks: the /24 (IPv4) or /64 (IPv6) an address belongs to.

One household or practice usually sits in one block, and an attacker renting many
addresses often gets neighbours, so limits and session binding look at the block.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache


@lru_cache(maxsize=65536)
def address_block(address: str) -> str:
    """The block of an address, as text. A value that is no IP address (a test client's
    host name, a Unix socket) is its own block, so it is still limited and bound."""
    parts = address.split(".")
    if len(parts) == 4:
        # Plain dotted IPv4, nearly every address: the same text as ipaddress gives, at
        # a tenth of its cost (each new client address costs a parse). Each part a
        # decimal octet as ipaddress accepts it: ASCII digits, no leading zero, <= 255
        # (a loop, not a call per part: every new client address comes here).
        for p in parts:
            if not (0 < len(p) <= 3 and p.isascii() and p.isdigit()
                    and (p == "0" or p[0] != "0") and int(p) <= 255):
                break
        else:
            return f"{parts[0]}.{parts[1]}.{parts[2]}.0/24"
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return f"host:{address}"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))

