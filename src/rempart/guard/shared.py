"""Shared networks: address ranges the operator knows many organisations work behind.

A hosted practice-software provider, a hospital group's network, a regional ISP's
carrier-grade NAT: behind each, many honest practices share addresses and address
blocks. The guard's network-wide signals (the address and address-block ceilings, the
block-distrust rule, `campaign.network`, `campaign.block`) treat a block as one actor;
for a listed network they treat each organisation behind it as one instead (its
*scope*), so that one attacked practice, or forty busy ones, do not put friction on the
others. Nothing else changes: the account's, organisation's and session's own ceilings
and evidence, session binding and the platform-wide campaign evidence judge a check
from a listed network as any other. An entry may name the organisations known to be
behind it; then only theirs are scoped, and any other organisation's traffic from it
is judged network-wide, as if it were not listed.

The list is read from a TOML file named by REMPART_GUARD_SHARED_NETWORKS, checked at
start-up (docs/guard.md, "Shared networks"):

    [[network]]
    label = "hosted-software-x"
    cidrs = ["192.0.2.0/24", "2001:db8:40::/48"]
    organisations = ["1042", "1043"]   # optional
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from rempart.guard.errors import GuardConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SETTING = "REMPART_GUARD_SHARED_NETWORKS"
# The widest entry accepted: an IPv4 /16 (65,536 addresses, a large ISP's NAT pool) or
# an IPv6 /32 (a whole ISP's allocation). Wider is a mistake, or a wish to exempt a
# country's traffic from the network-wide signals: refused.
WIDEST = {4: 16, 6: 32}
_CACHE_MAX = 65536


@dataclass(frozen=True, slots=True)
class SharedNetwork:
    label: str
    networks: tuple[Network, ...]
    # Empty: every organisation behind it is scoped on its own.
    organisations: frozenset[str] = frozenset()


class SharedNetworks:
    """The operator's list, and the scope of a check's network-wide counts."""

    def __init__(self, entries: Iterable[SharedNetwork] = ()) -> None:
        self.entries = tuple(entries)
        _check(self.entries)
        self._by_version = {v: [(n, e) for e in self.entries for n in e.networks
                                if n.version == v] for v in (4, 6)}
        # Address -> its entry (or None): one parse per client address, not per check.
        self._found: dict[str, SharedNetwork | None] = {}

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __repr__(self) -> str:
        return f"SharedNetworks({[e.label for e in self.entries]!r})"

    def entry(self, address: str) -> SharedNetwork | None:
        """The listed network an address is in, if any."""
        if not self.entries:
            return None
        if address in self._found:
            return self._found[address]
        found = self._lookup(address)
        if len(self._found) >= _CACHE_MAX:
            self._found.clear()
        self._found[address] = found
        return found

    def scope(self, address: str, organisation: object) -> str | None:
        """What the network-wide counts of a check from `address` by `organisation` are
        keyed by: None for an unlisted network (its address block, as ever), else the
        organisation within the listed network — unless the entry names its
        organisations and this is not one of them."""
        entry = self.entry(address)
        if entry is None:
            return None
        org = str(organisation)
        if entry.organisations and org not in entry.organisations:
            return None
        return f"shared:{entry.label}:org:{org}"

    def _lookup(self, address: str) -> SharedNetwork | None:
        try:
            ip = ipaddress.ip_address(address.strip().strip("[]"))
        except ValueError:
            return None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        for network, entry in self._by_version[ip.version]:
            if ip in network:
                return entry
        return None


def parse_entries(raw: object, *, source: str = SETTING) -> SharedNetworks:
    """The list from its TOML document's data ({"network": [{label, cidrs,
    organisations?}, ...]}); every mistake named, with the entry it is in."""
    if not isinstance(raw, Mapping) or set(raw) - {"network"}:
        raise GuardConfigError(f"{source}: expected only [[network]] tables")
    items = raw.get("network", [])
    if not isinstance(items, list):
        raise GuardConfigError(f"{source}: expected [[network]] tables")
    entries = []
    for i, item in enumerate(items):
        where = f"{source}: network #{i + 1}"
        if not isinstance(item, Mapping):
            raise GuardConfigError(f"{where} is not a table")
        unknown = set(item) - {"label", "cidrs", "organisations"}
        if unknown:
            raise GuardConfigError(f"{where}: unknown keys {sorted(unknown)}")
        label = item.get("label")
        if not isinstance(label, str) or not label.strip() or ":" in label:
            raise GuardConfigError(f"{where}: needs a label (non-empty text without ':')")
        where = f"{source}: network {label!r}"
        cidrs = item.get("cidrs")
        if not isinstance(cidrs, list) or not cidrs or not all(isinstance(c, str)
                                                                 for c in cidrs):
            raise GuardConfigError(f"{where}: cidrs must be a non-empty list of CIDRs")
        orgs = item.get("organisations", [])
        if not isinstance(orgs, list) or not all(isinstance(o, str | int) and str(o).strip()
                                                 for o in orgs):
            raise GuardConfigError(f"{where}: organisations must be a list of ids")
        entries.append(SharedNetwork(label.strip(), tuple(_cidr(where, c) for c in cidrs),
                                     frozenset(str(o).strip() for o in orgs)))
    return SharedNetworks(entries)


def load_file(path: str | Path) -> SharedNetworks:
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise GuardConfigError(f"{SETTING}: cannot read {path} ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise GuardConfigError(f"{SETTING}: {path} is not valid TOML ({exc})") from None
    return parse_entries(raw, source=f"{SETTING} ({path})")


def _cidr(where: str, text: str) -> Network:
    try:
        network = ipaddress.ip_network(text.strip())
    except ValueError:
        try:
            loose = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise GuardConfigError(f"{where}: {text!r} is not a CIDR network") from None
        raise GuardConfigError(f"{where}: {text!r} has host bits set (the network is "
                               f"{loose})") from None
    if network.prefixlen < WIDEST[network.version]:
        raise GuardConfigError(
            f"{where}: {text!r} is too wide (a /{network.prefixlen}; at most a "
            f"/{WIDEST[network.version]} for IPv{network.version}): a shared network is "
            "a provider's or a group's range, not a country's")
    return network


def _check(entries: tuple[SharedNetwork, ...]) -> None:
    labels: set[str] = set()
    for entry in entries:
        if entry.label in labels:
            raise GuardConfigError(f"{SETTING}: the label {entry.label!r} is listed twice")
        labels.add(entry.label)
        for network in entry.networks:
            if network.prefixlen < WIDEST[network.version]:
                raise GuardConfigError(f"{SETTING}: network {entry.label!r}: {network} is "
                                       "too wide")
    flat = [(n, e.label) for e in entries for n in e.networks]
    # Sorted by version, then address: an overlap is always between neighbours.
    flat.sort(key=lambda item: (item[0].version, int(item[0].network_address),
                                item[0].prefixlen))
    for (a, la), (b, lb) in pairwise(flat):
        if a.version == b.version and a.overlaps(b):
            raise GuardConfigError(f"{SETTING}: {a} ({la!r}) and {b} ({lb!r}) overlap: "
                                   "an address must belong to one entry")


NO_SHARED_NETWORKS = SharedNetworks()
