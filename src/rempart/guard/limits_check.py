"""Applying the rate ceilings: which scopes are over, and what the ladder says about it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from rempart.guard import network_limits as nl
from rempart.guard.ceilings import Ceilings, LimitPolicy
from rempart.guard.context import CheckContext
from rempart.guard.decision import Action
from rempart.ratelimit import HIGH


def counter_key(kind: str, value: str) -> str:
    """Counter keys never hold a session id or an address in clear."""
    return kind + ":" + _digest(value)


def block_digest(block: str) -> str:
    """The digest in a block's counter keys: counter_key(kind, block) is kind + ":" + it."""
    return _digest(block)


# An empty blake2b of the digests' size, copied per value: the same digest without
# parsing the constructor's keywords and initialising the state at each new value.
_BLAKE2B_10 = hashlib.blake2b(digest_size=10)


@lru_cache(maxsize=65536)
def _digest(value: str) -> str:
    # One digest per value, whatever the kinds of counter it keys (a session's checks and
    # failures, a block's checks and step-ups).
    h = _BLAKE2B_10.copy()
    h.update(value.encode())
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class Breach:
    what: str
    count: float
    ceiling: float
    window_s: int
    # Whether hammering through this ceiling ends the session (own scopes only).
    own: bool


@dataclass(frozen=True, slots=True)
class LimitVerdict:
    action: Action
    delay_s: float
    reasons: tuple[str, ...]


class CheckKeys(NamedTuple):
    """A check's counter keys, made once by its before_check and kept on its context for
    its after_lookup (CheckContext.keys): one object per check, where per-session memo
    caches kept an entry per new session, address and block — a few KiB per new account
    held long after its check (docs/guard.md, "Fewer objects per new account")."""

    block: str
    # check_keys' seven: the session's checks and failures, the account's hour and
    # day, the organisation's, address's and block's hour.
    check: tuple[tuple[str, int, int], ...]
    # The block's step-ups asked and left unanswered, and answered (reads).
    distrust: tuple[tuple[str, int, int], tuple[str, int, int]]
    # The sessions opened from the block in the hour (rempart.guard.campaign, a read).
    sessions: tuple[str, int, int]
    # The digest of `wide`: what the network-wide counts are keyed by.
    block_digest: str
    # The policy they were made with (a context used with another guard is keyed again).
    policy: LimitPolicy
    # For a check from a listed shared network (rempart.guard.shared), what its
    # network-wide counts are keyed by instead of the block: its organisation within
    # that network. None elsewhere.
    scope: str | None = None
    # The check's autonomous system's and the platform's counts (network_limits), where
    # the AS is known and the check is not scoped by a listed shared network; else None:
    # nothing counted, read or judged.
    network: nl.NetworkKeys | None = None

    @property
    def wide(self) -> str:
        """What the network-wide counts (address and block ceilings, block distrust,
        the campaign's network) are keyed by: the block, or the shared network's scope."""
        return self.scope or self.block


# Where CheckKeys.check holds the session's failures and the hourly counters of the
# account, organisation, address and block (keys_for's order).
_SESSION_FAILURES = 1
_HOURLY_SCOPES = (2, 4, 5, 6)


def keys_for(ctx: CheckContext, block: str, policy: LimitPolicy, distrust_s: int,
             sessions_window_s: int, scope: str | None = None) -> CheckKeys:
    """The check's keys, computed (counter_key's keys, one digest per value: a new
    session's two keys share one). With a `scope` (a listed shared network's
    organisation), the address's and the block's counts are the scope's, not the whole
    network's."""
    account = "a:" + _digest(str(ctx.account_id))
    session = _digest(ctx.session_id)
    block_d = _digest(scope or block)
    address = _digest(ctx.address if scope is None else scope + "|" + ctx.address)
    network = ctx.network
    return CheckKeys(
        block,
        (("s:" + session, policy.session_window_s, 1),
         ("fs:" + session, policy.failure_session_window_s, 0),
         (account, policy.hour_window_s, 1),
         (account, policy.day_window_s, 1),
         ("o:" + _digest(str(ctx.organisation_id)), policy.hour_window_s, 1),
         ("ip:" + address, policy.hour_window_s, 1),
         ("b:" + block_d, policy.hour_window_s, 1)),
        (("tb:" + block_d, distrust_s, 0), ("tb+:" + block_d, distrust_s, 0)),
        ("nb:" + block_d, sessions_window_s, 0),
        block_d, policy, scope,
        None if network is None or scope is not None else _network_keys(network, policy))


_PLATFORM = "as:" + _digest(nl.PLATFORM)
# An AS's keys, made once per AS and policy (a few thousand ASes carry a platform's
# checks), not four tuples and their strings per check.
_NETWORK_KEYS: dict[str, tuple[LimitPolicy, nl.NetworkKeys]] = {}


def _network_keys(network: str, policy: LimitPolicy) -> nl.NetworkKeys:
    found = _NETWORK_KEYS.get(network)
    if found is not None and found[0] is policy:
        return found[1]
    keys = nl.network_keys(_digest(network), _PLATFORM, policy)
    if len(_NETWORK_KEYS) >= 65536:
        _NETWORK_KEYS.clear()
    _NETWORK_KEYS[network] = (policy, keys)
    return keys


def distrust_keys(block: str, distrust_s: int, *,
                  answered: bool) -> tuple[tuple[str, int, int], ...]:
    """Add one to the block's count of step-ups asked of its sessions and left
    unanswered ("tb"), or answered ("tb+"): CheckKeys.distrust reads both."""
    return ((counter_key("tb+" if answered else "tb", block), distrust_s, 1),)


def failure_keys(keys: CheckKeys, policy: LimitPolicy) -> list[tuple[str, int, int]]:
    """Count a failed match: the session's own counter, and the high half of the hourly
    counters of the account, organisation, address and block (check_keys' keys)."""
    check = keys.check
    found = [(check[_SESSION_FAILURES][0], policy.failure_session_window_s, 1),
             *((check[i][0], policy.hour_window_s, HIGH) for i in _HOURLY_SCOPES)]
    if keys.network is not None:  # the AS's four counts after the five (network_breaches)
        found.extend(nl.failure_keys(keys.network))
    return found


class Counts(NamedTuple):
    """Sliding counts for one check: checks per scope, and failed matches per scope.
    (A named tuple: made on every check, and cheaper to make than a frozen dataclass.)"""

    session_minute: float
    account_hour: float
    account_day: float
    organisation_hour: float
    address_hour: float
    block_hour: float
    failures: tuple[float, float, float, float, float]

    @classmethod
    def from_check(cls, raw: list[tuple[float, float]]) -> Counts:
        session, session_fail, hour, day, org, address, block = raw[:7]
        return cls(session[0], hour[0], day[0], org[0], address[0], block[0],
                   (session_fail[0], hour[1], org[1], address[1], block[1]))

    @staticmethod
    def failures_from(raw: list[tuple[float, float]]) -> tuple[float, ...]:
        session_fail, hour, org, address, block = raw[:5]
        return (session_fail[0], hour[1], org[1], address[1], block[1])


def within(raw: list[tuple[float, float]], c: Ceilings) -> bool:
    """Whether a check's raw counts (keys_for's seven, as hit gives them) breach no
    ceiling: check_breaches and failure_breaches would both give [] (their first
    tests, on the raw counts: no Counts made, two calls fewer, nearly every check)."""
    session, session_fail, hour, day, org, address, block = raw[:7]
    return (session[0] <= c.session_minute and hour[0] <= c.account_hour
            and day[0] <= c.account_day and org[0] <= c.organisation_hour
            and address[0] <= c.address_hour and block[0] <= c.block_hour
            and session_fail[0] < c.fail_session and hour[1] < c.fail_account
            and org[1] < c.fail_organisation and address[1] < c.fail_address
            and block[1] < c.fail_block)


def check_breaches(counts: Counts, c: Ceilings, policy: LimitPolicy, noun: str) -> list[Breach]:
    # Most checks breach nothing: compare first, word the reasons only for a breach.
    if (counts.session_minute <= c.session_minute and counts.account_hour <= c.account_hour
            and counts.account_day <= c.account_day
            and counts.organisation_hour <= c.organisation_hour
            and counts.address_hour <= c.address_hour and counts.block_hour <= c.block_hour):
        return []
    pairs = ((counts.session_minute, c.session_minute), (counts.account_hour, c.account_hour),
             (counts.account_day, c.account_day), (counts.organisation_hour, c.organisation_hour),
             (counts.address_hour, c.address_hour), (counts.block_hour, c.block_hour))
    over = [i for i, (count, ceiling) in enumerate(pairs) if count > ceiling]
    wording = [(f"checks from this session in {policy.session_window_s // 60} min",
                policy.session_window_s, True),
               (f"checks from this account in 1 h (ceiling for this {noun})",
                policy.hour_window_s, True),
               (f"checks from this account in 24 h (ceiling for this {noun})",
                policy.day_window_s, True),
               ("checks from this organisation in 1 h", policy.hour_window_s, False),
               ("checks from this address in 1 h", policy.hour_window_s, False),
               ("checks from this address block in 1 h", policy.hour_window_s, False)]
    return [Breach(wording[i][0], pairs[i][0], pairs[i][1], wording[i][1], wording[i][2])
            for i in over]


def failure_breaches(failures: tuple[float, ...], c: Ceilings,
                     policy: LimitPolicy) -> list[Breach]:
    # A failure ceiling is reached at the count itself: the next attempt waits.
    session, account, organisation, address, block = failures
    if (session < c.fail_session and account < c.fail_account
            and organisation < c.fail_organisation and address < c.fail_address
            and block < c.fail_block):
        return []  # nearly every check
    ceilings = (c.fail_session, c.fail_account, c.fail_organisation, c.fail_address,
                c.fail_block)
    over = [i for i, (count, ceiling) in enumerate(zip(failures, ceilings, strict=True))
            if count >= ceiling]
    wording = [(f"failed matches from this session in {policy.failure_session_window_s // 60} "
                "min", policy.failure_session_window_s),
               ("failed matches from this account in 1 h", policy.hour_window_s),
               ("failed matches from this organisation in 1 h", policy.hour_window_s),
               ("failed matches from this address in 1 h", policy.hour_window_s),
               ("failed matches from this address block in 1 h", policy.hour_window_s)]
    return [Breach(wording[i][0], failures[i], ceilings[i], wording[i][1], False) for i in over]


def network_breaches(raw: list[tuple[float, float]], c: Ceilings, policy: LimitPolicy,
                     network: str, *, checks: bool) -> list[Breach]:
    """An autonomous system's breaches from its four counts (network_limits' keys, in
    their order): of its checks ceiling (`checks`: before the look-up) and of its
    failed matches' (rempart.guard.network_limits)."""
    hour, week, platform_hour, platform_week = raw
    usual = nl.usual_hour(week[0], platform_hour[0], platform_week[0])
    ceiling = nl.network_ceiling(usual, c, policy)
    fail = nl.failure_ceiling(ceiling, policy)
    if (not checks or hour[0] <= ceiling) and hour[1] < fail:
        return []  # nearly every check
    found = []
    if checks and hour[0] > ceiling:
        times = (f"{hour[0] / usual:.1f}x its usual hour" if usual >= 1.0
                 else "no usual hour of its own yet")
        found.append(Breach(f"checks in 1 h from {network} ({times})", hour[0], ceiling,
                            policy.hour_window_s, False))
    if hour[1] >= fail:
        found.append(Breach(f"failed matches in 1 h from {network} (its usual hour: "
                            f"{usual:.0f} checks)", hour[1], fail, policy.hour_window_s,
                            False))
    return found


def judge_network(raw: list[tuple[float, float]], c: Ceilings, policy: LimitPolicy,
                  network: str | None, breaches: list[Breach]) -> bool:
    """Before the look-up: add the AS's breaches (its four counts) to `breaches`, and
    whether an allowed check learns (network_limits.learns). Inline, one call a check:
    network_breaches' and learns' arithmetic, for the check that breaches nothing."""
    hour, week, platform_hour, platform_week = raw
    total = platform_week[0]
    usual = (week[0] if week[0] < total else total) / total * platform_hour[0] if total else 0.0
    floor = c.network_hour
    margin = policy.network_margin
    ceiling = margin * usual if margin * usual > floor else floor
    count = hour[0]
    if count <= ceiling and (hour[1] < policy.failure_share * ceiling
                             or hour[1] < policy.failure_floor_shared):
        return count <= floor / margin or count <= policy.network_learn * usual
    breaches += network_breaches(raw, c, policy, network or "its network", checks=True)
    return nl.learns(raw, c, policy)


def failed_breaches(raw: list[tuple[float, float]], c: Ceilings, policy: LimitPolicy,
                    network: str | None) -> list[Breach]:
    """A failed match's breaches from failure_keys' counts: the five scopes', then its
    AS's where it was counted."""
    found = failure_breaches(Counts.failures_from(raw), c, policy)
    if len(raw) > 5:
        found += network_breaches(raw[5:], c, policy, network or "its network",
                                  checks=False)
    return found


NO_BREACH = LimitVerdict(Action.ALLOW, 0.0, ())


def verdict(breaches: list[Breach], policy: LimitPolicy) -> LimitVerdict:
    if not breaches:
        return NO_BREACH
    reasons = tuple(f"{b.count:.0f} {b.what}; ceiling {b.ceiling:.0f}" for b in breaches)
    if any(b.own and b.count >= policy.hammer_factor * b.ceiling for b in breaches):
        return LimitVerdict(Action.SUSPEND_SESSION, 0.0, (
            *reasons, "the session kept going at several times its ceiling while told to "
                      "slow down"))
    # Wait until the sliding window has let enough of its count go.
    delay = max(b.window_s * (b.count - b.ceiling + 1) / b.count for b in breaches)
    return LimitVerdict(Action.SLOW_DOWN, max(1.0, round(delay, 1)), reasons)
