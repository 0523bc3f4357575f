"""What the guard is told about a check: who asks, from where, and what the lookup found.

Nothing here is personal data about a patient: a person is only an opaque,
pseudonymous key (a blind index) and a département.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from types import MemberDescriptorType
from typing import TYPE_CHECKING, Any, NamedTuple

from rempart.core.care import Profession
from rempart.guard.errors import InvalidCheckContext

if TYPE_CHECKING:
    from rempart.guard.ceilings import Ceilings
    from rempart.guard.evidence import Usual
    from rempart.guard.limits_check import CheckKeys
    from rempart.guard.peers import PeerPrior
    from rempart.guard.profile import AccountProfile, SessionState

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


class Carried(NamedTuple):
    """What an allowed before_check loaded and computed, kept on its context for its
    after_lookup: in process the same objects, changed in place, so that the after-step
    needs no second peer prior, hourly look-up or session set-up while they are still the
    state's (its one load_pair checks that: rempart.guard.guard.Guard._carried)."""

    guard: object
    keys: CheckKeys
    prior: PeerPrior
    profile: AccountProfile
    session: SessionState
    ceilings: Ceilings
    usual: Usual


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
    # Nor this: what an allowed before_check loaded and computed, for its after_lookup to
    # go on with in process (Carried).
    carried: Carried | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise InvalidCheckContext("at", "must be timezone-aware")
        if not self.session_id:
            raise InvalidCheckContext("session_id", "must not be empty")


# Compiled with mypyc (docs/guard.md, "The compiled guard, served") the class is native:
# it has no member descriptors, its class cannot be set, and its own __init__ is the way.
_NATIVE = not isinstance(vars(CheckContext).get("account_id"), MemberDescriptorType)


class _Building:
    """CheckContext's slots, unfrozen: a context is filled in as one of these, then
    becomes a CheckContext (the same layout, so its class may be set)."""

    __slots__ = getattr(CheckContext, "__slots__", ())


def new_context(account_id: EntityId, organisation_id: EntityId, session_id: str,
                profession: Profession, size_class: SizeClass, departement: str,
                address: str, device_id: str, at: dt.datetime, channel: Channel,
                postcode: str | None, network: str | None = None) -> CheckContext:
    """CheckContext(...) with every field given, checked the same, made through its
    slots: a frozen dataclass's __init__ calls object.__setattr__ per field, a tenth of
    the gate's own cost per check (docs/guard.md, "Fewer calls per check"); plain slot
    stores on an unfrozen twin, then its class set, cost a third of the slots' setters
    called one by one (docs/guard.md, "Per check only what a decision needs")."""
    if _NATIVE:
        return CheckContext(account_id, organisation_id, session_id, profession, size_class,
                            departement, address, device_id, at, channel, postcode, network)
    ctx: Any = _Building()  # its slots are CheckContext's, which mypy cannot see
    ctx.account_id, ctx.organisation_id, ctx.session_id = account_id, organisation_id, session_id
    ctx.profession, ctx.size_class, ctx.departement = profession, size_class, departement
    ctx.address, ctx.device_id, ctx.at, ctx.channel = address, device_id, at, channel
    ctx.postcode, ctx.network = postcode, network
    ctx.keys = ctx.ts = ctx.carried = None
    ctx.__class__ = CheckContext
    made: CheckContext = ctx
    made.__post_init__()
    return made


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
