"""Limits per autonomous system (AS), where the edge knows a check's AS.

A botnet or a residential proxy pool rents addresses across many /24s of one provider:
each block stays under its own ceiling (rempart.guard.ceilings), the provider's whole
network does not. An AS is not one actor, though: a national ISP carries thousands of
practices, a hosting provider none or a hosted practice software. So its hourly ceiling
is learnt from its own history, not from one account's peers:

    usual hour = its share of the platform's AS-known checks over the week
                 x the platform's AS-known checks this hour
    ceiling    = max(network_blocks x the account's block ceiling,    (its floor)
                     network_margin x its usual hour)

A share, not a count: it needs no week of history to mean something (a restart, a
first day, a quiet night all scale the platform's hour and the AS's alike), and an
ISP whose practices make a third of the checks keeps a third of every hour's. Only
allowed checks are added to the week's counts (`learn`), and only while the AS reads
within 1.5x its usual hour or a third of its floor (`learns`): attempts refused or
slowed, and a surge, teach the baseline nothing, so an attacker held at the floor
stays there instead of raising its own ceiling hour after hour. Failed matches: the
same share of the ceiling as every scope's (LimitPolicy.failure_share), at least the
shared scopes' floor.

A check whose AS is unknown has no network keys: nothing is counted, read or judged.
A check from a listed shared network (rempart.guard.shared) is judged per organisation
within that network, as its block is: not counted in its AS either (the operator said
who is behind it; one attacked practice there must not slow its AS's other networks).
"""

from __future__ import annotations

from rempart.guard.ceilings import Ceilings, LimitPolicy
from rempart.ratelimit import HIGH

# Every AS-known check's counter: the platform's hour and week (the share's divisor).
PLATFORM = "as*"

# A network's keys, in this order: its hour (counted by the hit; failures in the high
# half), its week (read; added once allowed), the platform's hour (counted), its week
# (read; added once allowed).
NetworkKeys = tuple[tuple[str, int, int], tuple[str, int, int], tuple[str, int, int],
                    tuple[str, int, int]]


def network_keys(digest: str, platform: str, policy: LimitPolicy) -> NetworkKeys:
    """The keys of an AS (`digest`: limits_check's digest of its number) and of the
    platform (`platform`: the digest of PLATFORM)."""
    week = policy.network_window_s
    return (("as:" + digest, policy.hour_window_s, 1), ("as:" + digest, week, 0),
            (platform, policy.hour_window_s, 1), (platform, week, 0))


Learnt = tuple[tuple[str, int, int], tuple[str, int, int]]
# learn's answers, by the AS's week key: made once per AS, not per check.
_LEARNT: dict[str, Learnt] = {}


def learn(keys: NetworkKeys) -> Learnt:
    """An allowed check's additions to the AS's and the platform's week."""
    week, platform = keys[1], keys[3]
    found = _LEARNT.get(week[0])
    if found is not None and found[0][1] == week[1] and found[1][:2] == platform[:2]:
        return found
    made = (week[0], week[1], 1), (platform[0], platform[1], 1)
    if len(_LEARNT) >= 65536:
        _LEARNT.clear()
    _LEARNT[week[0]] = made
    return made


def failure_keys(keys: NetworkKeys) -> tuple[tuple[str, int, int], ...]:
    """A failed match: the AS's hour, high half; and the reads its ceiling needs."""
    return ((keys[0][0], keys[0][1], HIGH), keys[1], (keys[2][0], keys[2][1], 0), keys[3])


def usual_hour(as_week: float, platform_hour: float, platform_week: float) -> float:
    """The AS's usual checks in this hour: its week's share of the platform's hour."""
    if platform_week <= 0.0:
        return 0.0
    return min(as_week, platform_week) / platform_week * platform_hour


def learns(raw: list[tuple[float, float]], c: Ceilings, policy: LimitPolicy) -> bool:
    """Whether an allowed check's AS (its four counts, network_keys' order) learns from
    it: while its hour stays within network_learn x its usual hour, or within its floor
    divided by the margin (an AS without history yet)."""
    hour, week, platform_hour, platform_week = raw
    usual = usual_hour(week[0], platform_hour[0], platform_week[0])
    return hour[0] <= max(c.network_hour / policy.network_margin,
                          policy.network_learn * usual)


def network_ceiling(usual: float, c: Ceilings, policy: LimitPolicy) -> float:
    return max(c.network_hour, policy.network_margin * usual)


def failure_ceiling(ceiling: float, policy: LimitPolicy) -> float:
    return max(policy.failure_floor_shared, policy.failure_share * ceiling)
