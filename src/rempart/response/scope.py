"""A breach scope: which persons had which fields disclosed, through what, and when.

The scope is computed from the audit log (`rempart breach scope`) and is the only input
of the reports. It holds no personal data in clear: persons are internal ids, fields are
names from the catalogue. Every value is checked on construction, so a scope that exists
is consistent (times carry a UTC offset, windows are not inverted, each person is listed
once, first and last disclosures lie inside the window).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections import Counter
from dataclasses import dataclass, field

from rempart.response.errors import InvalidScope
from rempart.response.fields import FIELD_NAMES, RECORDED_ALIASES, canonical_fields

AMC_PATTERN = re.compile(r"[0-9A-Za-z]{1,10}")  # also used as a directory name: no dots
SESSION_PATTERN = re.compile(r"[A-Za-z0-9._:~-]{1,64}")
MAX_ID = 2**63 - 1


def utc_time(where: str, value: dt.datetime) -> dt.datetime:
    """The same instant in UTC; a naive time is refused (its zone would be a guess)."""
    if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidScope(where, "must be a date and time with a UTC offset")
    return value.astimezone(dt.UTC)


def _internal_id(where: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        raise InvalidScope(where, "must be a positive integer id")
    return value


@dataclass(frozen=True)
class Selector:
    """What the scope selected: provider accounts, sessions and client address ranges."""

    accounts: tuple[int, ...] = ()
    sessions: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()  # CIDR ranges, normalised

    def __post_init__(self) -> None:
        accounts = tuple(sorted({_internal_id(f"selector.accounts[{i}]", a)
                                 for i, a in enumerate(self.accounts)}))
        for i, session in enumerate(self.sessions):
            if not isinstance(session, str) or not SESSION_PATTERN.fullmatch(session):
                raise InvalidScope(f"selector.sessions[{i}]", "is not a session id")
        addresses = []
        for i, address in enumerate(self.addresses):
            try:
                addresses.append(str(ipaddress.ip_network(address, strict=False)))
            except (TypeError, ValueError):
                raise InvalidScope(f"selector.addresses[{i}]", "is not a CIDR range") from None
        if not (accounts or self.sessions or addresses):
            raise InvalidScope("selector", "names no account, session or address")
        object.__setattr__(self, "accounts", accounts)
        object.__setattr__(self, "sessions", tuple(sorted(set(self.sessions))))
        object.__setattr__(self, "addresses", tuple(sorted(set(addresses))))

    def describe(self, language: str = "en") -> str:
        """One line for a report, e.g. 'accounts 12, 40; addresses 203.0.113.0/24'."""
        words = _SELECTOR_WORDS[language]
        parts = []
        if self.accounts:
            parts.append(f"{words[0]} " + ", ".join(str(a) for a in self.accounts))
        if self.sessions:
            parts.append(f"{words[1]} " + ", ".join(self.sessions))
        if self.addresses:
            parts.append(f"{words[2]} " + ", ".join(self.addresses))
        return "; ".join(parts)


_SELECTOR_WORDS = {"en": ("provider accounts", "sessions", "IP addresses"),
                   "fr": ("comptes de professionnels", "sessions", "adresses IP")}


@dataclass(frozen=True)
class Window:
    """The period searched: since (inclusive) to until (exclusive)."""

    since: dt.datetime
    until: dt.datetime

    def __post_init__(self) -> None:
        since = utc_time("window.since", self.since)
        until = utc_time("window.until", self.until)
        if until <= since:
            raise InvalidScope("window", "until must be later than since")
        object.__setattr__(self, "since", since)
        object.__setattr__(self, "until", until)

    def __contains__(self, moment: dt.datetime) -> bool:
        return self.since <= moment < self.until


@dataclass(frozen=True)
class ScopedPerson:
    """One person whose data reached the selected accounts, sessions or addresses."""

    person_id: int
    insurer_amc: str
    fields_disclosed: frozenset[str]  # catalogue names; names the audit log records are mapped
    first_seen: dt.datetime
    last_seen: dt.datetime
    disclosures: int

    def __post_init__(self) -> None:
        _internal_id("person_id", self.person_id)
        if not isinstance(self.insurer_amc, str) or not AMC_PATTERN.fullmatch(self.insurer_amc):
            raise InvalidScope("insurer_amc", "must be 1 to 10 letters or digits")
        names = self.fields_disclosed
        if not isinstance(names, frozenset) or not names:
            raise InvalidScope("fields_disclosed", "must name at least one field")
        try:
            canonical = canonical_fields(names)
        except (KeyError, TypeError):
            raise InvalidScope("fields_disclosed", "names a field outside the catalogue (known: "
                               + ", ".join(sorted(FIELD_NAMES | RECORDED_ALIASES.keys()))
                               + ")") from None
        first = utc_time("first_seen", self.first_seen)
        last = utc_time("last_seen", self.last_seen)
        if last < first:
            raise InvalidScope("last_seen", "is earlier than first_seen")
        if (isinstance(self.disclosures, bool) or not isinstance(self.disclosures, int)
                or self.disclosures < 1):
            raise InvalidScope("disclosures", "must be a positive integer")
        object.__setattr__(self, "fields_disclosed", canonical)
        object.__setattr__(self, "first_seen", first)
        object.__setattr__(self, "last_seen", last)


@dataclass(frozen=True)
class ScopeCounts:
    """Totals for the response team; always derived from the persons, never trusted."""

    persons: int
    disclosures: int
    by_insurer: dict[str, int]
    by_field: dict[str, int]

    @classmethod
    def of(cls, persons: tuple[ScopedPerson, ...]) -> ScopeCounts:
        by_insurer = Counter(p.insurer_amc for p in persons)
        by_field = Counter(name for p in persons for name in p.fields_disclosed)
        return cls(persons=len(persons), disclosures=sum(p.disclosures for p in persons),
                   by_insurer=dict(sorted(by_insurer.items())),
                   by_field=dict(sorted(by_field.items())))


@dataclass(frozen=True)
class Scope:
    selector: Selector
    window: Window
    detected_at: dt.datetime  # when the operator became aware: the art. 33 clock starts here
    computed_at: dt.datetime
    persons: tuple[ScopedPerson, ...]
    counts: ScopeCounts = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "detected_at", utc_time("detected_at", self.detected_at))
        object.__setattr__(self, "computed_at", utc_time("computed_at", self.computed_at))
        persons = tuple(sorted(self.persons, key=lambda p: (p.insurer_amc, p.person_id)))
        seen: set[int] = set()
        for person in persons:
            if person.person_id in seen:
                raise InvalidScope(f"person id {person.person_id}", "is listed twice")
            seen.add(person.person_id)
            if person.first_seen not in self.window or person.last_seen not in self.window:
                raise InvalidScope(f"person id {person.person_id}",
                                   "first_seen or last_seen lies outside the window")
        object.__setattr__(self, "persons", persons)
        object.__setattr__(self, "counts", ScopeCounts.of(persons))

    @property
    def insurers(self) -> list[str]:
        return list(self.counts.by_insurer)

    @property
    def first_disclosure(self) -> dt.datetime | None:
        return min((p.first_seen for p in self.persons), default=None)

    @property
    def last_disclosure(self) -> dt.datetime | None:
        return max((p.last_seen for p in self.persons), default=None)
