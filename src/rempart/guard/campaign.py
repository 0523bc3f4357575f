"""Pooling evidence across accounts: is someone reading through many accounts at once?

One hijacked account read slowly says little in its first few checks. Many of them
(scenario S5) say a lot together. The guard pools two cohorts:

- *fresh* sessions: sessions of an account that has an origin of its own, opened from
  a device or an address block that is not one — what a thief with stolen credentials
  and its own machine looks like, and, rarely, an honest new computer. An origin is the
  account's own once a claimed check confirmed it, or once its sessions have used it
  for longer than the reads' window (`origin_novelty`): most small practices have not
  had a claim confirm anything on their first days (claims follow checks by up to two
  days), and a thief's origin, first seen with its campaign, is not yet its account's
  while the campaign is judged;
- the sessions of one *network* (address block) within the hour, whatever their
  accounts, once there are several: one attacker's infrastructure reading through
  many accounts, including accounts with no history of their own.

One family of evidence, `campaign`, comes from them. It is about the platform, not about
what one session did: it counts as one fact about where a session comes from, so it asks
for a step-up only beside the session's own evidence (its patients far away or unknown
to it, its failed matches, its timing...), and never suspends on its own: it counts
towards a suspension's strong families only beside a strong family of the session's own
behaviour (rempart.guard.ladder). Its parts:

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
  network reads through; for sessions from a network their account has not confirmed,
  and judged without the session's own checks: one practice whose patients live far
  away (an overseas hospital) is not a cohort of its network.

- `campaign.young`: *young* sessions, of accounts with no origin of their own yet (a
  practice's first hours on the platform, or an account its thief reached first):
  their checks of people far away or matching no one in the last hour (without the
  judged session's own), against the young sessions' own share over the 23 hours
  before with a margin, or its upper confidence bound if higher (no evidence on a
  platform's first hour, little on a quiet one). Owner and thief of a young account
  cannot be told apart by origin, so it goes only to young sessions whose own checks
  include two people who live far away or more, above the judged share: the ones that
  add to the excess, not the owner's whose patients are local (the owner's account
  counts hold the thief's checks too: typos beside them must not suspend it). Only
  far-away patients that look like a list's reads count (list_like): a practice whose
  far-away patients keep coming from a few départements (an overseas hospital's) is
  a catchment, not a list, on a platform's first morning as on any other.

While it holds, a session carries it as standing evidence from its first check, so that
one or two odd checks of its own are enough for a step-up, where a session on its own
needs several. Honest users pay only while a campaign is on, and only in sessions from
a device or network their account has not confirmed whose own checks look odd.
"""

from __future__ import annotations

import math

from rempart.guard.counters import SlidingWindows
from rempart.guard.decision import Evidence
from rempart.guard.limits_check import CheckKeys, block_digest, counter_key
from rempart.guard.places import CATCHMENT_BITS as CATCHMENT_BITS  # re-exported
from rempart.guard.places import MAX_PLACES as MAX_PLACES
from rempart.guard.places import PLACE_SHARE_MAX as PLACE_SHARE_MAX
from rempart.guard.places import catchment_bits as catchment_bits
from rempart.guard.places import list_like
from rempart.guard.places import note_place as note_place
from rempart.guard.profile import TAINT_S, AccountProfile, SessionState
from rempart.guard.stats import binomial_tail_bits, poisson_tail_bits, share_upper_bound
from rempart.guard.tally import CLASSES, OPENED, PlatformTally

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
# Young sessions' checks, and those of people far away or matching no one: the hour
# against the day (the counts' keys, windows, amounts).
_YOUNG_N = [("campaign:young:n", HOUR_S, 1), ("campaign:young:n", DAY_S, 1)]
_YOUNG_ODD = [("campaign:young:odd", HOUR_S, 1), ("campaign:young:odd", DAY_S, 1)]
# record's platform-wide counts of checks, and of odd ones (far away or matching no one).
_ALL_N = ("campaign:all:n", NETWORK_WINDOW_S, 1)
_ALL_ODD = ("campaign:all:odd", NETWORK_WINDOW_S, 1)
_YOUNG_READ = [(k, w, 0) for k, w, _ in (_YOUNG_N[0], _YOUNG_ODD[0], _YOUNG_N[1], _YOUNG_ODD[1])]
# A young session adds to the cohort's excess with this many checks of people who live
# far away, above the cohort's judged share (typos, failed matches retried at once, are
# not counted: an owner's two typos beside its thief's checks must not suspend it).
YOUNG_OWN = 2.0
# An origin seen (not confirmed) becomes the account's own after this long: the reads'
# window, so that the origins a campaign brings are still fresh while it is judged.
ESTABLISHED_S = WINDOW_S


def origin_novelty(profile: AccountProfile, *, device: str, block: str,
                   ts: float) -> tuple[bool, bool, bool]:
    """For a new session: (fresh, foreign_block, young), and its device and block noted
    as seen.

    Fresh when the account has a device of its own (confirmed by a claim, or used for
    ESTABLISHED_S by its sessions and not tainted since) and this session's device or
    block is not its own; foreign_block when the block is not. Young when the account
    has nothing of its own yet (its first hours): owner and thief cannot be told apart
    by origin there."""
    seen, tainted = profile.seen, profile.tainted
    cutoff = ts - ESTABLISHED_S

    def held(key: str) -> bool:
        first = seen.get(key)
        if first is None or first > cutoff:
            return False
        when = tainted.get(key)
        return when is None or ts - when >= TAINT_S

    has_own = bool(profile.devices) or any(
        key.startswith("d:") and held(key) for key in seen)
    fresh = foreign = False
    if has_own:
        own_block = block in profile.blocks or held("b:" + block)
        foreign = not own_block
        fresh = foreign or not (device in profile.devices or held("d:" + device))
    profile.note_seen(device, block, ts)
    return fresh, foreign, not has_own


def still_young(young: bool, started: float, ts: float) -> bool:
    """Whether a session opened young still is: its own origin becomes its account's
    after ESTABLISHED_S, as any origin does (a practice software's session lasts days)."""
    return young and ts - started < ESTABLISHED_S


class CampaignWatch:
    def __init__(self, windows: SlidingWindows, *, window_s: int = WINDOW_S) -> None:
        self._windows = windows
        self._window_s = window_s
        # record's counts of each cohort (fresh or known): checks, far, failed; made once.
        self._cohort_keys = {
            fresh: tuple((f"campaign:{group}:{what}", window_s, 1)
                         for what in ("n", "far", "fail"))
            for fresh, group in ((True, "fresh"), (False, "known"))}
        # The platform-wide counts a check of each class adds to (tally.CLASSES). In
        # process they are tallied by class and counted before they are read
        # (rempart.guard.tally); on Redis each check counts its own.
        self._class_adds = [self._platform_keys(index) for index in range(CLASSES)]
        self._tally = PlatformTally(windows, keys=[
            *([(key, window) for key, window, _ in adds] for adds in self._class_adds),
            list(_OPENED)], granule_s=math.gcd(window_s, HOUR_S, DAY_S, NETWORK_WINDOW_S),
        ) if windows.in_process else None
        self._cached_at = float("-inf")
        self._cached: Evidence | None = None
        self._young_at = float("-inf")
        # The young cohort's hour, its odd checks, the 23 h before, its usual and judged
        # shares: refreshed every REFRESH_S, each session's own checks taken out per call.
        self._young_counts = (0.0, 0.0, 0.0, 0.0, 1.0)

    def _platform_keys(self, index: int) -> list[tuple[str, int, int]]:
        """The platform-wide counters a check of tally class `index` adds one to."""
        fresh, young, far, failed = (bool(index & bit) for bit in (8, 4, 2, 1))
        n, far_key, fail_key = self._cohort_keys[fresh]
        adding = [_ALL_N, n, *(_YOUNG_N if young else ())]
        if far or failed:
            adding += [_ALL_ODD, *(_YOUNG_ODD if young else ())]
        return adding + ([far_key] if far else []) + ([fail_key] if failed else [])

    def opened(self, *, digest: str, fresh: bool, foreign_block: bool, ts: float) -> None:
        """Count a session opening from its block (`digest`: the block's, see
        block_digest), and a fresh one across the platform and, if the block is new to
        its account, in that block."""
        keys = [("nb:" + digest, HOUR_S, 1)]
        if fresh:
            if self._tally is not None:
                self._tally.add(OPENED, ts)
            else:
                keys += [(key, window, 1) for key, window in _OPENED]
        if foreign_block:
            keys.append(("fb:" + digest, HOUR_S, 1))
        self._windows.add(keys, ts)

    def record(self, *, fresh: bool, keys: CheckKeys, matched: bool, far: bool | None,
               ts: float, young: bool = False) -> float:
        """Count a check that reached its lookup, and what the lookup found, in its block
        and in its cohort (fresh, or the others: the platform's baseline; and young), in
        one call; return the sessions opened from the block in the hour (`keys`: the
        check's, whose `sessions` is that count's key)."""
        digest = keys.block_digest
        # The class index of tally.CLASSES (every check).
        index = (fresh << 3) | (young << 2) | (bool(far) << 1) | (not matched)
        adding = ([("nb:n:" + digest, HOUR_S, 1), ("nb:odd:" + digest, HOUR_S, 1)]
                  if far or not matched else [("nb:n:" + digest, HOUR_S, 1)])
        if self._tally is not None:
            self._tally.add(index, ts)
        else:
            adding += self._class_adds[index]
        return self._windows.read_adding(keys.sessions, adding, ts)[0]

    def _flush(self) -> None:
        """Before a read of the platform-wide counts: count what was tallied."""
        if self._tally is not None:
            self._tally.flush()

    def pooled(self, profile: AccountProfile, session: SessionState, sessions: float,
               ts: float, young: bool | None = None) -> list[Evidence]:
        """Evidence from the whole platform, for sessions from a device or network their
        account has not confirmed (`sessions`: opened from the network in the hour;
        `young`: still_young's, where the caller has it)."""
        if not session.fresh and session.block in profile.blocks:
            return []
        if young is None:
            young = still_young(session.young, session.started, ts)
        if not CampaignWatch.may_apply(sessions, session.fresh, young, session.far):
            return []
        return self.evidence(block=session.wide, sessions=sessions, fresh=session.fresh,
                             foreign_block=session.foreign_block, ts=ts,
                             own=(session.checks, session.far + session.fail), young=young,
                             own_far=(session.far_known, session.far),
                             places=session.far_places)

    @staticmethod
    def may_apply(sessions: float, fresh: bool, young: bool, own_far: float) -> bool:
        """Whether any part of `evidence` can apply (most sessions: none, and the caller
        skips the call): the network's reads, the fresh cohort's, or the young one's."""
        return sessions >= NETWORK_SESSIONS or fresh or (young and own_far >= YOUNG_OWN)

    def evidence(self, *, block: str, sessions: float, fresh: bool, foreign_block: bool,
                 ts: float, own: tuple[float, float] = (0.0, 0.0),
                 young: bool = False, own_far: tuple[float, float] = (0.0, 0.0),
                 places: tuple[str, ...] | None = None) -> list[Evidence]:
        """The standing evidence of a session: what the cohort of fresh sessions reads
        and how it opens (fresh sessions only), what the young ones read (a young session
        with an odd check of its own), and what the sessions of its network read (a
        network its account has not confirmed; `sessions` opened from it in the hour,
        read beside other counts; `own`: the session's checks and its checks of people
        far away or matching no one, left out of its network's; `own_far`: its matched
        checks whose residence is known, and those far away; `places`: the départements
        of those far away, as note_place keeps them — of which only the ones that look
        like a list's reads are the young cohort's, see list_like)."""
        found = [self._network(block, sessions, ts, own)
                 if sessions >= NETWORK_SESSIONS else None]
        if fresh:
            found += [self._reads(ts), *self._spread(block, foreign_block, ts)]
        if young and own_far[1] >= YOUNG_OWN:
            if places is not None:
                own_far = (own_far[0], list_like(own_far[1], places))
            if own_far[1] >= YOUNG_OWN:
                found.append(self._young(ts, own, own_far))
        return [e for e in found if e is not None]

    def _network(self, block: str, sessions: float, ts: float,
                 own: tuple[float, float]) -> Evidence | None:
        """Several sessions from one network within the hour, reading people who live far
        away or match no one (either: a leaked list has both) far more often than the
        platform does."""
        window = NETWORK_WINDOW_S
        digest = block_digest(block)
        self._flush()
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
        # The other sessions of the network: this one's checks (over its life, the hour's
        # at most) are its own evidence, judged by its account's features.
        n, odd = _without(own, n, odd)
        if n < 1.0:
            return None
        usual, judged = _baseline(others_odd, others)
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
        self._flush()
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

    def _young(self, ts: float, own: tuple[float, float],
               own_far: tuple[float, float]) -> Evidence | None:
        """The young sessions' share of checks of people far away or matching no one in
        the last hour, without this session's own (one practice whose patients live far
        away is not a cohort), against their own over the 23 hours before."""
        if abs(ts - self._young_at) >= REFRESH_S:
            self._flush()
            n, odd, day_n, day_odd = (c[0] for c in self._windows.hit(_YOUNG_READ, ts))
            before = max(day_n - n, 0.0)
            before_odd = max(day_odd - odd, 0.0)
            usual, judged = _baseline(before_odd, before)
            self._young_at = ts
            self._young_counts = (n, odd, before, usual, judged)
        n, odd, before, usual, judged = self._young_counts
        if own_far[1] <= judged * own_far[0]:
            return None  # the session's own patients are no odder than the cohort's usual
        n, odd = _without(own, n, odd)
        bits = binomial_tail_bits(odd, n, judged)
        if bits < REPORT_ABOVE:
            return None
        return Evidence("campaign.young", min(bits, CAP_BITS), (
            f"across the platform, {n:.0f} checks in the last hour came from other accounts "
            f"with no device or network of their own yet and {100 * odd / n:.0f} % of them "
            f"were of people who live over 200 km away or matched no one (the 23 h before: "
            f"{100 * usual:.0f} % of {before:.0f}, judged against {100 * judged:.0f} %)"))

    def _spread(self, block: str, foreign_block: bool,
                ts: float) -> tuple[Evidence | None, Evidence | None]:
        self._flush()
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


def _baseline(odd: float, n: float) -> tuple[float, float]:
    """The usual share of odd checks among `n`, and the share judged against: the margin
    for honest variation, or what the share may still be, if more."""
    usual = (odd + 1.0) / (n + 2.0)
    return usual, min(0.95, max(usual * MARGIN + SLACK, share_upper_bound(odd, n, BASELINE_Z)))


def _without(own: tuple[float, float], n: float, odd: float) -> tuple[float, float]:
    """Checks and odd checks of a cohort without the judged session's `own` (its checks,
    its odd ones): a session's own reads are its own evidence, not its cohort's."""
    n = max(n - own[0], 0.0)
    return n, min(max(odd - own[1], 0.0), n)
