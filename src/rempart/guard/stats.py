"""Tail surprisals in bits, computed in plain Python in O(1).

Every feature of the behaviour model asks one question: how surprising is what we
see, if the account behaves as it usually does? The answer is -log2 of a tail
probability. We use Chernoff bounds (P[X >= k] <= exp(-n KL)) for Poisson and
binomial tails: they are closed-form, cost a few floating-point operations, and are
upper bounds on the probability, so the surprisal they give is never larger than
the true one. Overstating surprise is what would create friction for honest users.
"""

from __future__ import annotations

import math

LN2 = math.log(2.0)
# No single feature may say more than this, however extreme: one broken estimate
# must not be able to suspend an account on its own.
MAX_BITS = 60.0


def poisson_tail_bits(count: float, expected: float) -> float:
    """Surprisal of seeing at least `count` events when `expected` were expected."""
    if expected <= 0.0:
        expected = 1e-3
    if count <= expected:
        return 0.0
    nats = count * math.log(count / expected) - count + expected
    return min(MAX_BITS, nats / LN2)


def binomial_tail_bits(hits: float, trials: float, rate: float) -> float:
    """Surprisal of at least `hits` successes in `trials` (possibly fractional,
    exponentially weighted) trials when each succeeds with probability `rate`."""
    if trials <= 0.0 or hits <= 0.0:
        return 0.0
    rate = min(max(rate, 1e-4), 1.0 - 1e-4)
    share = min(hits / trials, 1.0)
    if share <= rate:
        return 0.0
    kl = share * math.log(share / rate)
    if share < 1.0:
        kl += (1.0 - share) * math.log((1.0 - share) / (1.0 - rate))
    return min(MAX_BITS, trials * kl / LN2)


def normal_lower_tail_bits(z: float) -> float:
    """Surprisal of a standard normal value at most `z` (0 for z >= 0)."""
    if z >= 0.0:
        return 0.0
    tail = 0.5 * math.erfc(-z / math.sqrt(2.0))
    if tail <= 0.0:
        return MAX_BITS
    return min(MAX_BITS, -math.log2(tail))


def share_upper_bound(hits: float, trials: float, z: float) -> float:
    """Wilson's upper confidence bound on a share seen as `hits` in `trials`: what the
    share may still be, given how few trials back it (1.0 with none). A baseline known
    from ten checks is judged generously, one known from thousands almost exactly."""
    if trials <= 0.0:
        return 1.0
    share = min(max(hits / trials, 0.0), 1.0)
    z2 = z * z
    centre = share + z2 / (2.0 * trials)
    spread = z * math.sqrt(share * (1.0 - share) / trials + z2 / (4.0 * trials * trials))
    return min(1.0, (centre + spread) / (1.0 + z2 / trials))


def decay_factor(half_life: float) -> float:
    """Per-step multiplier of an exponentially weighted count with this half-life."""
    return math.pow(0.5, 1.0 / half_life)


def regularity_bits(count: int, total: float, total_sq: float, *,
                    reference_cv: float, min_count: int) -> tuple[float, float]:
    """(surprisal, coefficient of variation) of `count` intervals being this regular.

    People are irregular; bots that sleep a fixed time are not. Under an honest
    process the log of the sample CV is roughly normal with a spread of about
    0.85/sqrt(n) (measured by simulation for exponential intervals; widened by 30 %
    because small samples have a heavier lower tail). We measure the distance below
    `reference_cv`, a deliberately low bar (a busy counter with a queue serves people
    at a steady pace), so only clearly machine-like timing is surprising.
    """
    if count < min_count or total <= 0.0:
        return 0.0, 1.0
    mean = total / count
    variance = max(total_sq - total * mean, 0.0) / (count - 1)
    cv = math.sqrt(variance) / mean
    spread = 1.3 * 0.85 / math.sqrt(count)
    z = (math.log(max(cv, 1e-3)) - math.log(reference_cv)) / spread
    return normal_lower_tail_bits(z), cv
