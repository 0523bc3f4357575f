"""The campaign watch's platform-wide counts, tallied per check and counted in bulk.

Every check that reaches its look-up adds one to several platform-wide counters (its
cohort's checks, far-away and failed ones, the young cohort's, every check's and odd
check's: rempart.guard.campaign.CampaignWatch.record), and every fresh session opening
to two more. No decision of the check that adds them reads them then: they are read by
the campaign's evidence (`_reads` and `_young` at most every REFRESH_S, `_network`
when a network has several sessions, `_spread` for fresh sessions). In process, a
check adds one to its *class's* tally instead (one list element: which cohort, young,
far away, matched), and the tallies become the counters' increments in one storage call
before anything reads them, or when the time moves to another bucket. All the windows
of these counters are whole multiples of `granule_s` (an hour), so counts made later
within the same hour land in the buckets the checks' own would have: every read sees
the very counts it saw when each check counted its own.

On Redis, shared by several machines, each check counts its own (CampaignWatch does
not make a tally there): another machine's read must see them.
"""

from __future__ import annotations

from collections.abc import Sequence

from rempart.guard.counters import SlidingWindows

# A class's index: fresh << 3 | young << 2 | far << 1 | failed; one more for a fresh
# session opening.
CLASSES = 16
OPENED = CLASSES


class PlatformTally:
    """Per class, the checks counted since the last flush (see the module docstring)."""

    __slots__ = ("_counts", "_granule", "_granule_s", "_keys", "_ts", "_windows")

    def __init__(self, windows: SlidingWindows, *, keys: Sequence[Sequence[tuple[str, int]]],
                 granule_s: int) -> None:
        """`keys`: per class (CLASSES + 1 entries, see CLASSES and OPENED), the
        (counter key, window) pairs one of its checks adds one to; every window a whole
        multiple of `granule_s`."""
        if len(keys) != CLASSES + 1:
            raise ValueError("PlatformTally: one key list per class")
        if any(window % granule_s for pairs in keys for _, window in pairs):
            raise ValueError("PlatformTally: every window a multiple of the granule")
        self._windows = windows
        self._granule_s = granule_s
        self._keys = [tuple(pairs) for pairs in keys]
        self._counts = [0] * (CLASSES + 1)
        self._granule = float("nan")
        self._ts = 0.0

    def add(self, index: int, ts: float) -> None:
        """One check (or opening) of class `index` at `ts`."""
        granule = ts // self._granule_s
        if granule != self._granule:
            # Another bucket for some window: what was tallied counts at its own time.
            self.flush()
            self._granule = granule
        self._counts[index] += 1
        self._ts = ts

    def flush(self) -> None:
        """Count what was tallied (before any read of these counters)."""
        counts = self._counts
        if not any(counts):
            return
        amounts: dict[tuple[str, int], int] = {}
        for index, count in enumerate(counts):
            if count:
                for pair in self._keys[index]:
                    amounts[pair] = amounts.get(pair, 0) + count
                counts[index] = 0
        self._windows.add([(key, window, amount) for (key, window), amount in amounts.items()],
                          self._ts)
