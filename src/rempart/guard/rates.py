"""An account's five binary features, counted over three horizons, in one flat list.

Each feature (new patient, patient far away, failed match, near miss, check never
claimed) keeps exponentially weighted (hits, trials) over three horizons: a baseline
learnt only from allowed, unremarkable traffic (so an attacker cannot train it quickly),
and short and long recent windows fed by every check. The 30 figures are one list of
floats — feature offset + field — where they were five objects in a dict: a new
account's first check builds one list instead of six objects for the cyclic collector
to track (docs/guard.md, "Cut, 2026-12-01 (branch `guardflat`)"). The arithmetic is the
same, operation for operation, so every count is the same to the last bit.
"""

from __future__ import annotations

from rempart.guard.peers import RATE_NAMES
from rempart.guard.stats import decay_factor

SHORT_HALF_LIFE = 24.0      # checks
LONG_HALF_LIFE = 192.0      # checks
BASE_HALF_LIFE = 2000.0     # learnt checks
PRIOR_WEIGHT = 50.0         # the peer prior counts as this many checks of evidence

# Fields of one feature, from its offset.
BASE_HITS, BASE_TRIALS, SHORT_HITS, SHORT_TRIALS, LONG_HITS, LONG_TRIALS = range(6)
# Their names, in that order (as a profile stored them, one object per feature,
# before the flat list: rempart.guard.codec reads both).
FIELD_NAMES = ("base_hits", "base_trials", "short_hits", "short_trials", "long_hits",
               "long_trials")
FIELDS = len(FIELD_NAMES)
# Each feature's offset in the list, by name (the peer priors' order).
OFFSET = {name: FIELDS * i for i, name in enumerate(RATE_NAMES)}
NEW, FAR, FAIL, NEAR_MISS, UNCLAIMED = (OFFSET[name] for name in RATE_NAMES)
SIZE = FIELDS * len(RATE_NAMES)

_SHORT = decay_factor(SHORT_HALF_LIFE)
_LONG = decay_factor(LONG_HALF_LIFE)
_BASE = decay_factor(BASE_HALF_LIFE)


def empty() -> list[float]:
    return [0.0] * SIZE


def observe(rates: list[float], at: int, hit: bool) -> None:
    """A check seen by the recent windows of the feature at offset `at`."""
    h = 1.0 if hit else 0.0
    i = at + SHORT_HITS
    rates[i] = rates[i] * _SHORT + h
    rates[i + 1] = rates[i + 1] * _SHORT + 1.0
    rates[i + 2] = rates[i + 2] * _LONG + h
    rates[i + 3] = rates[i + 3] * _LONG + 1.0


def observe_check(r: list[float], new: bool | None, far: bool | None, fail: bool | None,
                  near_miss: bool | None) -> None:
    """observe() for each of a look-up's features (None: not observed), in one call.

    Written out with the offsets as literals (NEW 0, FAR 6, FAIL 12, NEAR_MISS 18; short
    hits at +2, short trials +3, long hits +4, long trials +5; a test holds them to
    observe()): every check makes it, and four calls of observe() cost twice as much as
    the five objects it replaces did."""
    s, lg = _SHORT, _LONG
    if new is not None:
        h = 1.0 if new else 0.0
        r[2], r[3], r[4], r[5] = r[2] * s + h, r[3] * s + 1.0, r[4] * lg + h, r[5] * lg + 1.0
    if far is not None:
        h = 1.0 if far else 0.0
        r[8], r[9], r[10], r[11] = (r[8] * s + h, r[9] * s + 1.0, r[10] * lg + h,
                                    r[11] * lg + 1.0)
    if fail is not None:
        h = 1.0 if fail else 0.0
        r[14], r[15], r[16], r[17] = (r[14] * s + h, r[15] * s + 1.0, r[16] * lg + h,
                                      r[17] * lg + 1.0)
    if near_miss is not None:
        h = 1.0 if near_miss else 0.0
        r[20], r[21], r[22], r[23] = (r[20] * s + h, r[21] * s + 1.0, r[22] * lg + h,
                                      r[23] * lg + 1.0)


def learn(rates: list[float], at: int, hit: bool) -> None:
    # BASE_HITS is at the offset itself, BASE_TRIALS next to it.
    rates[at] = rates[at] * _BASE + (1.0 if hit else 0.0)
    rates[at + 1] = rates[at + 1] * _BASE + 1.0


def baseline(rates: list[float], at: int, prior: float) -> float:
    """The usual rate: own learnt history, shrunk towards the peer prior."""
    return ((rates[at + BASE_HITS] + PRIOR_WEIGHT * prior)
            / (rates[at + BASE_TRIALS] + PRIOR_WEIGHT))


def recent(rates: list[float], at: int) -> tuple[float, float, float, float]:
    """(short hits, short trials, long hits, long trials) of one feature."""
    return (rates[at + SHORT_HITS], rates[at + SHORT_TRIALS], rates[at + LONG_HITS],
            rates[at + LONG_TRIALS])


def learnt_any(rates: list[float]) -> bool:
    """Whether any feature's baseline has learnt a check."""
    # Written out (a generator cost more than the rest of the check's cache look-up).
    return bool(rates[NEW + BASE_TRIALS] or rates[FAR + BASE_TRIALS]
                or rates[FAIL + BASE_TRIALS] or rates[NEAR_MISS + BASE_TRIALS]
                or rates[UNCLAIMED + BASE_TRIALS])


def forget_recent(rates: list[float]) -> None:
    for at in OFFSET.values():
        for field in (SHORT_HITS, SHORT_TRIALS, LONG_HITS, LONG_TRIALS):
            rates[at + field] = 0.0


def discount(rates: list[float], at: int, hits: float, trials: float) -> None:
    """Take a contained session's checks back out of the recent windows (they are
    recent, so their decay is small; never below zero)."""
    for field, amount in ((SHORT_HITS, hits), (SHORT_TRIALS, trials), (LONG_HITS, hits),
                          (LONG_TRIALS, trials)):
        rates[at + field] = max(rates[at + field] - amount, 0.0)
