"""Pooling evidence across accounts: is someone reading through many accounts at once?

One hijacked account read slowly says little in its first few checks. Hundreds of
them (scenario S5) say a lot together: the sessions that open from a device or
network their account has never used start reading people who live far away or
match no one, far more often than every other session on the platform does at the
same hour. The comparison is with the rest of the platform's traffic in the same
sliding window (four hours: long enough to outlast an attack that pauses while its
sessions are stepped up), so it needs no prior and follows the time of day.

While that difference is significant, each session from a new device or network
carries it as standing evidence, so it is asked for a fresh second factor before
it reads much — or anything. Honest users pay for this only while a campaign is on,
and only on their rare sessions from a new device or network.
"""

from __future__ import annotations

from rempart.guard.counters import SlidingWindows
from rempart.guard.decision import Evidence
from rempart.guard.stats import binomial_tail_bits

WINDOW_S = 4 * 3600
# Re-evaluate at most this often (clock seconds): the answer changes slowly.
REFRESH_S = 5.0
MARGIN = 1.5
SLACK = 0.02
CAP_BITS = 30.0
KNOWN_SAMPLE = 8
_KEYS = ("campaign:novel:n", "campaign:novel:far", "campaign:novel:fail",
         "campaign:known:n", "campaign:known:far", "campaign:known:fail")


class CampaignWatch:
    def __init__(self, windows: SlidingWindows, *, window_s: int = WINDOW_S) -> None:
        self._windows = windows
        self._window_s = window_s
        self._cached_at = float("-inf")
        self._cached: Evidence | None = None
        self._known_seen = 0

    def record(self, *, novel: bool, matched: bool, far: bool | None, ts: float) -> None:
        """Count a check that reached its lookup, and what the lookup found. Checks from
        known devices and networks — nearly all of them — are a baseline: one in
        KNOWN_SAMPLE is enough to estimate its shares, and costs an eighth."""
        if not novel:
            self._known_seen += 1
            if self._known_seen % KNOWN_SAMPLE:
                return
        group = "novel" if novel else "known"
        keys = [(f"campaign:{group}:n", self._window_s, 1)]
        if far:
            keys.append((f"campaign:{group}:far", self._window_s, 1))
        if not matched:
            keys.append((f"campaign:{group}:fail", self._window_s, 1))
        self._windows.hit(keys, ts)

    def evidence(self, ts: float) -> Evidence | None:
        if abs(ts - self._cached_at) < REFRESH_S:
            return self._cached
        counts = self._windows.hit([(k, self._window_s, 0) for k in _KEYS], ts)
        novel_n, novel_far, novel_fail, known_n, known_far, known_fail = (c[0] for c in counts)
        best, what, share, usual = 0.0, "", 0.0, 0.0
        for hits, base_hits, label in ((novel_far, known_far, "live over 200 km away"),
                                       (novel_fail, known_fail, "matched no one")):
            base = (base_hits + 1.0) / (known_n + 20.0)
            bits = binomial_tail_bits(hits, novel_n, min(0.95, base * MARGIN + SLACK))
            if bits > best and novel_n:
                best, what, share, usual = bits, label, hits / novel_n, base
        self._cached_at = ts
        self._cached = None if best <= 0.0 else Evidence("campaign", min(best, CAP_BITS), (
            f"across the platform, {novel_n:.0f} checks in the last {self._window_s // 3600} h "
            f"came from sessions on new devices or networks and {100 * share:.0f} % of them {what} "
            f"(other sessions: {100 * usual:.0f} %)"))
        return self._cached
