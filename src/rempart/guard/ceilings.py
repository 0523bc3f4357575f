"""Rate ceilings per session, account, organisation, address, address block and, where
the edge knows it, autonomous system (rempart.guard.network_limits).

Not one global number: each ceiling is max(the peer group's high mark, the account's
own high mark over the last four weeks) x a margin, so a large hospital desk and a
village optician each get room for their own busiest day, and a new account gets
its peers' room. Failed matches have their own, much lower ceilings.
"""

from __future__ import annotations

from dataclasses import dataclass

from rempart.guard import rates as rw
from rempart.guard.peers import PeerPrior
from rempart.guard.profile import AccountProfile

SCOPES = ("session", "account", "organisation", "address", "block", "network")


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    margin: float = 2.0
    session_window_s: int = 60
    hour_window_s: int = 3600
    day_window_s: int = 86400
    failure_session_window_s: int = 600
    # An address can carry this many organisations' busiest hour (shared offices, NAT),
    # a block this many addresses'.
    address_organisations: float = 2.0
    block_addresses: float = 4.0
    # An autonomous system's hourly checks: at least this many blocks' ceilings (its
    # floor, where it has no history: a hosting provider's), else this multiple of its
    # usual hour (its share of the platform's week applied to the platform's hour);
    # its share counted over this window (rempart.guard.network_limits).
    network_blocks: float = 2.0
    network_margin: float = 3.0
    network_window_s: int = 7 * 86400
    # ...learnt from its allowed checks while its hour stays within this multiple of
    # its usual hour or a margin's share of its floor: a network reading far above its
    # usual teaches its baseline nothing.
    network_learn: float = 1.5
    # Failed matches allowed, as a share of the checks ceiling, with a floor per scope.
    failure_share: float = 0.2
    failure_floor_session: int = 6
    failure_floor_account: int = 12
    failure_floor_shared: int = 25
    # Attempts beyond this multiple of a session's or account's ceiling, while being
    # told to slow down, end the session.
    hammer_factor: float = 3.0


@dataclass(frozen=True, slots=True)
class Ceilings:
    session_minute: float
    account_hour: float
    account_day: float
    organisation_hour: float
    address_hour: float
    block_hour: float
    # An autonomous system's floor (network_blocks x block_hour): its ceiling where it
    # has no usual hour yet (rempart.guard.network_limits.network_ceiling).
    network_hour: float
    fail_session: float
    fail_account: float
    fail_organisation: float
    fail_address: float
    fail_block: float


def ceilings_for(policy: LimitPolicy, prior: PeerPrior, profile: AccountProfile) -> Ceilings:
    own_minute, own_hour, own_day = profile.own_peaks()
    m = policy.margin
    minute = max(prior.per_minute, own_minute) * m
    hour = max(prior.per_hour, own_hour) * m
    day = max(prior.per_day, own_day) * m
    organisation = hour * prior.organisation_accounts
    address = organisation * policy.address_organisations
    block = address * policy.block_addresses
    share = policy.failure_share
    minutes_per_failure_window = policy.failure_session_window_s / policy.session_window_s
    return Ceilings(
        session_minute=minute, account_hour=hour, account_day=day,
        organisation_hour=organisation, address_hour=address, block_hour=block,
        network_hour=block * policy.network_blocks,
        fail_session=max(policy.failure_floor_session,
                         share * minute * minutes_per_failure_window / 4),
        fail_account=max(policy.failure_floor_account, share * hour),
        fail_organisation=max(policy.failure_floor_shared, share * organisation),
        fail_address=max(policy.failure_floor_shared, share * address),
        fail_block=max(policy.failure_floor_shared, share * block),
    )


def learnt_nothing(profile: AccountProfile, prior: PeerPrior) -> bool:
    """Whether the account's ceilings and usual rates are still its peer group's: no
    learnt check, no peak above the peers' (see ceilings_for, usual_and_judged)."""
    if profile.learned_checks:
        return False
    if rw.learnt_any(profile.rates):
        return False
    # own_peaks() <= the prior's, compared field by field (no tuple, no max: every call).
    high, today = profile.peaks_high, profile.peaks_today
    return (high[0] <= prior.per_minute and today[0] <= prior.per_minute
            and high[1] <= prior.per_hour and today[1] <= prior.per_hour
            and high[2] <= prior.per_day and today[2] <= prior.per_day)
