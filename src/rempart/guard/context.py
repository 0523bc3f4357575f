"""What the guard is told about a check: who asks, from where, and what the lookup found.

Nothing here is personal data about a patient: a person is only an opaque,
pseudonymous key (a blind index) and a département.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field, fields
from types import MemberDescriptorType
from typing import TYPE_CHECKING

from rempart.core.care import Profession
from rempart.guard.errors import InvalidCheckContext

if TYPE_CHECKING:
    from rempart.guard.limits_check import CheckKeys

EntityId = int | str


class Channel(enum.StrEnum):
    PORTAL = "portal"
    API = "api"


class SizeClass(enum.StrEnum):
    """How big the organisation is; peer groups are (profession, size class)."""

    SOLO = "solo"
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


@dataclass(frozen=True, slots=True)
class CheckContext:
    """One coverage check as seen before the lookup."""

    account_id: EntityId
    organisation_id: EntityId
    session_id: str
    profession: Profession
    size_class: SizeClass
    departement: str
    address: str
    device_id: str
    at: dt.datetime
    channel: Channel = Channel.PORTAL
    postcode: str | None = None
    # Autonomous system number of the address, where the edge knows it.
    network: str | None = None
    # Not part of what the check is: its counter keys, made once by the guard's
    # before_check for its after_lookup (rempart.guard.limits_check.CheckKeys).
    keys: CheckKeys | None = field(default=None, init=False, compare=False, repr=False)
    # Nor is this: the check's time on the guard's time base (rempart.guard.clockwatch),
    # read once by its before_check, the same for its after_lookup (clockwatch.check_ts).
    ts: float | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise InvalidCheckContext("at", "must be timezone-aware")
        if not self.session_id:
            raise InvalidCheckContext("session_id", "must not be empty")


# Each field's slot setter, in CheckContext's order (its init fields, then keys and ts).
# Interpreted, the slots are member descriptors; compiled with mypyc (docs/guard.md)
# the class is native, has none, and its own __init__ is the fast way: () then.
_FIELDS = tuple(f.name for f in fields(CheckContext))
_SETTERS = tuple(d.__set__ for d in (vars(CheckContext).get(name) for name in _FIELDS)
                 if isinstance(d, MemberDescriptorType))
if len(_SETTERS) != len(_FIELDS):
    _SETTERS = ()
_new = object.__new__


def new_context(account_id: EntityId, organisation_id: EntityId, session_id: str,
                profession: Profession, size_class: SizeClass, departement: str,
                address: str, device_id: str, at: dt.datetime, channel: Channel,
                postcode: str | None, network: str | None = None) -> CheckContext:
    """CheckContext(...) with every field given, checked the same, made through its
    slots: a frozen dataclass's __init__ calls object.__setattr__ per field, a tenth of
    the gate's own cost per check (docs/guard.md, "Fewer calls per check")."""
    if not _SETTERS:
        return CheckContext(account_id, organisation_id, session_id, profession, size_class,
                            departement, address, device_id, at, channel, postcode, network)
    ctx = _new(CheckContext)
    for set_field, value in zip(_SETTERS, (
            account_id, organisation_id, session_id, profession, size_class, departement,
            address, device_id, at, channel, postcode, network, None, None), strict=True):
        set_field(ctx, value)
    ctx.__post_init__()
    return ctx


@dataclass(frozen=True, slots=True)
class LookupOutcome:
    """What the lookup found, before anything is disclosed.

    `person_key` is set when a record matched, fully or (near miss) in part: an opaque
    per-person key such as the identity blind index, never an identifier itself.
    `check_reference` is the reference a claim will quote, for matched checks.
    `attempt_key`, for a check that matched no one (or nearly), is an opaque key of all
    the details sent: the same details sent again are a retry, not another person.
    """

    matched: bool
    person_key: str | None = None
    departement: str | None = None
    near_miss: bool = False
    covered: bool = False
    check_reference: str | None = None
    attempt_key: str | None = None

    def __post_init__(self) -> None:
        if self.matched and self.near_miss:
            raise InvalidCheckContext("near_miss", "a matched lookup is not a near miss")
        if self.matched and not self.person_key:
            raise InvalidCheckContext("person_key", "required when the lookup matched")
