"""Pooling evidence across accounts: is someone reading through many accounts at once?

One hijacked account read slowly says little in its first few checks. Many of them
(scenario S5) say a lot together. The guard pools two cohorts:

- *fresh* sessions: sessions of an account that has confirmed a device by a claimed
  check, opened from a device or an address block it has not confirmed — what a thief
  with stolen credentials and its own machine looks like, and, rarely, an honest new
  computer;
- the sessions of one *network* (address block) within the hour, whatever their
  accounts, once there are several: one attacker's infrastructure reading through
  many accounts, including accounts with no history of their own.

One family of evidence, `campaign`, comes from them. It is about the platform, not about
what one session did: it counts as one fact about where a session comes from, so it asks
for a step-up only beside the session's own evidence (its patients far away or unknown
to it, its failed matches, its timing...), and never suspends. Its parts:

- `campaign.reads`: fresh sessions' checks of people who live far away or match no one,
  against every other session's on the platform in the same sliding window (four
  hours: long enough to outlast an attack that pauses while its sessions are stepped
  up); no prior needed, and it follows the time of day;
- `campaign.block`, `campaign.burst`: how fresh sessions open. Several within the hour
  from one address block new to each of their accounts, or many more across the
  platform in the last hour than its usual hourly number over the day (a campaign
  starting at once);
- `campaign.network`: once several sessions opened from one network within the hour,
  their checks of people far away or matching no one in the hour (a leaked list has
  both), against the other networks' share over the last 24 h with a margin, or its
  upper confidence bound if higher: a platform that has seen few checks yet (its first
  morning) is judged generously, one that has seen thousands closely, so the evidence
  grows with the platform's own honest traffic and with the number of sessions the
  network reads through; for sessions from a network their account has not confirmed.

While it holds, a session carries it as standing evidence from its first check, so that
one or two odd checks of its own are enough for a step-up, where a session on its own
needs several. Honest users pay only while a campaign is on, and only in sessions from
a device or network their account has not confirmed whose own checks look odd.
"""

from __future__ import annotations

from functools import lru_cache

from rempart.guard.counters import SlidingWindows
from rempart.guard.decision import Evidence
from rempart.guard.limits_check import block_digest, counter_key
from rempart.guard.stats import binomial_tail_bits, poisson_tail_bits, share_upper_bound

WINDOW_S = 4 * 3600
# Re-evaluate at most this often (clock seconds): the answer changes slowly.
REFRESH_S = 5.0
MARGIN = 1.5
SLACK = 0.02
CAP_BITS = 30.0
_KEYS = ("campaign:fresh:n", "campaign:fresh:far", "campaign:fresh:fail",
         "campaign:known:n", "campaign:known:far", "campaign:known:fail")
# Fresh sessions opening: counted over the hour, against the day's hourly mean.
HOUR_S = 3600
DAY_S = 86400
_OPENED = (("campaign:opened", HOUR_S), ("campaign:opened", DAY_S))
BURST_MARGIN = 2.0
BURST_FLOOR = 1.0
REPORT_ABOVE = 3.0
# Each other fresh session from the same block (new to its account) within the hour.
SHARED_BLOCK_BITS = 8.0
# A network's reads are judged once this many sessions opened from it within the hour:
# a cohort, not one practice whose patients happen to live far away.
NETWORK_SESSIONS = 3
# ...its checks of the hour against the other networks' of the day, with the margin or
# the share's one-sided 99 % upper bound (z = 2.33), whichever is higher.
NETWORK_WINDOW_S = DAY_S
BASELINE_Z = 2.33


class CampaignWatch:
    def __init__(self, windows: SlidingWindows, *, window_s: int = WINDOW_S) -> None:
        self._windows = windows
        self._window_s = window_s
        self._cached_at = float("-inf")
        self._cached: Evidence | None = None

    def opened(self, *, block: str, fresh: bool, foreign_block: bool, ts: float) -> None:
        """Count a session opening from its block, and a fresh one across the platform
        and, if the block is new to its account, in that block."""
        keys = [(counter_key("nb", block), HOUR_S, 1)]
        if fresh:
            keys += [(key, window, 1) for key, window in _OPENED]
        if foreign_block:
            keys.append((counter_key("fb", block), HOUR_S, 1))
        self._windows.add(keys, ts)

    @staticmethod
    @lru_cache(maxsize=65536)
    def sessions_key(block: str) -> tuple[str, int, int]:
        """Read with the limits' counts before a check: sessions opened from the block."""
        return (counter_key("nb", block), HOUR_S, 0)

    def record(self, *, fresh: bool, block: str, matched: bool, far: bool | None,
               ts: float) -> float:
        """Count a check that reached its lookup, and what the lookup found, in its block
        and in its cohort (fresh, or the others: the platform's baseline), in one call;
        return the sessions opened from the block in the hour."""
        group = "fresh" if fresh else "known"
        digest = block_digest(block)  # counter_key's, once for the block's keys
        keys = [("nb:n:" + digest, HOUR_S, 1),
                ("campaign:all:n", NETWORK_WINDOW_S, 1), (f"campaign:{group}:n", self._window_s, 1)]
        if far or not matched:
            keys += [("nb:odd:" + digest, HOUR_S, 1),
                     ("campaign:all:odd", NETWORK_WINDOW_S, 1)]
        if far:
            keys.append((f"campaign:{group}:far", self._window_s, 1))
        if not matched:
            keys.append((f"campaign:{group}:fail", self._window_s, 1))
        return self._windows.read_adding(self.sessions_key(block), keys, ts)[0]

    def evidence(self, *, block: str, sessions: float, fresh: bool, foreign_block: bool,
                 ts: float) -> list[Evidence]:
        """The standing evidence of a session: what the cohort of fresh sessions reads
        and how it opens (fresh sessions only), and what the sessions of its network
        read (a network its account has not confirmed; `sessions` opened from it in
        the hour, read beside other counts)."""
        found = [self._network(block, sessions, ts) if sessions >= NETWORK_SESSIONS else None]
        if fresh:
            found += [self._reads(ts), *self._spread(block, foreign_block, ts)]
        return [e for e in found if e is not None]

    def _network(self, block: str, sessions: float, ts: float) -> Evidence | None:
        """Several sessions from one network within the hour, reading people who live far
        away or match no one (either: a leaked list has both) far more often than the
        platform does."""
        window = NETWORK_WINDOW_S
        digest = block_digest(block)
        n, odd, all_n, all_odd = (c[0] for c in self._windows.hit(
            [("nb:n:" + digest, HOUR_S, 0), ("nb:odd:" + digest, HOUR_S, 0),
             ("campaign:all:n", window, 0), ("campaign:all:odd", window, 0)], ts))
        # Its checks of the hour (a shared network's earlier honest traffic does not
        # dilute them) against every other network's of the day, no prior: where honest
        # patients often live far away (a border region, a population spread thin), the
        # platform's own share says so; where it has seen little yet, its bound stays
        # wide. (The network's own checks of earlier hours stay in the baseline: a
        # conservative error.)
        others = max(all_n - n, 0.0)
        others_odd = max(all_odd - odd, 0.0)
        usual = (others_odd + 1.0) / (others + 2.0)
        # The margin for honest variation, or what the share may still be, if more.
        judged = min(0.95, max(usual * MARGIN + SLACK,
                               share_upper_bound(others_odd, others, BASELINE_Z)))
        bits = binomial_tail_bits(odd, n, judged)
        if bits < REPORT_ABOVE:
            return None
        return Evidence("campaign.network", min(bits, CAP_BITS), (
            f"{sessions:.0f} sessions opened from this network (address block) in the last "
            f"hour; {100 * odd / n:.0f} % of their {n:.0f} checks were of people who live over "
            f"200 km away or matched no one (other networks: {100 * usual:.0f} % of {others:.0f} "
            f"in 24 h, judged against {100 * judged:.0f} %)"))

    def _reads(self, ts: float) -> Evidence | None:
        if abs(ts - self._cached_at) < REFRESH_S:
            return self._cached
        counts = self._windows.hit([(k, self._window_s, 0) for k in _KEYS], ts)
        fresh_n, fresh_far, fresh_fail, known_n, known_far, known_fail = (c[0] for c in counts)
        best, what, share, usual = 0.0, "", 0.0, 0.0
        for hits, base_hits, label in ((fresh_far, known_far, "live over 200 km away"),
                                       (fresh_fail, known_fail, "matched no one")):
            base = (base_hits + 1.0) / (known_n + 20.0)
            bits = binomial_tail_bits(hits, fresh_n, min(0.95, base * MARGIN + SLACK))
            if bits > best and fresh_n:
                best, what, share, usual = bits, label, hits / fresh_n, base
        self._cached_at = ts
        self._cached = None if best <= 0.0 else Evidence("campaign.reads", min(best, CAP_BITS), (
            f"across the platform, {fresh_n:.0f} checks in the last {self._window_s // 3600} h "
            f"came from sessions on devices or networks new to their accounts and "
            f"{100 * share:.0f} % of them {what} (other sessions: {100 * usual:.0f} %)"))
        return self._cached

    def _spread(self, block: str, foreign_block: bool,
                ts: float) -> tuple[Evidence | None, Evidence | None]:
        keys = [(key, window, 0) for key, window in _OPENED]
        if foreign_block:
            keys.append((counter_key("fb", block), HOUR_S, 0))
        counts = self._windows.hit(keys, ts)
        hour, day = counts[0][0], counts[1][0]
        usual = max(BURST_FLOOR, (day - hour) / (DAY_S / HOUR_S - 1))
        bits = poisson_tail_bits(hour, BURST_MARGIN * usual)
        burst = None if bits < REPORT_ABOVE else Evidence("campaign.burst", min(bits, CAP_BITS), (
            f"{hour:.0f} sessions opened across the platform in the last hour from devices or "
            f"networks new to their accounts (usually about {usual:.1f} an hour)"))
        shared = None
        neighbours = round(counts[2][0]) - 1 if foreign_block else 0
        if neighbours >= 1:
            shared = Evidence("campaign.block", min(SHARED_BLOCK_BITS * neighbours, CAP_BITS), (
                f"{neighbours + 1} sessions opened in the last hour from this network (address "
                "block), each new to its account"))
        return burst, shared
