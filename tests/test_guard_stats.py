"""The guard's statistics: conservative tails (never more surprised than the exact tail)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rempart.guard.evidence import REPORT_ABOVE, WINDOW_PENALTY, judged_rate, rate_evidence
from rempart.guard.stats import (
    binomial_tail_bits,
    normal_lower_tail_bits,
    poisson_tail_bits,
    regularity_bits,
    share_upper_bound,
)


def exact_poisson_bits(k: int, lam: float) -> float:
    # Summed from k upwards (not 1 - the rest), so that tiny tails keep their precision.
    tail = math.fsum(math.exp(-lam + i * math.log(lam) - math.lgamma(i + 1))
                     for i in range(k, k + 400))
    return -math.log2(max(tail, 1e-300))


def exact_binomial_bits(k: int, n: int, p: float) -> float:
    tail = sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1))
    return -math.log2(max(tail, 1e-300))


@given(st.integers(0, 60), st.floats(0.05, 40.0))
def test_poisson_surprisal_never_exceeds_the_exact_tail(k: int, lam: float) -> None:
    assert poisson_tail_bits(k, lam) <= exact_poisson_bits(k, lam) + 1e-6


@given(st.integers(1, 60), st.data(), st.floats(0.001, 0.999))
def test_binomial_surprisal_never_exceeds_the_exact_tail(n: int, data: st.DataObject,
                                                        p: float) -> None:
    k = data.draw(st.integers(0, n))
    assert binomial_tail_bits(k, n, p) <= exact_binomial_bits(k, n, p) + 1e-6


@given(st.integers(0, 400), st.integers(1, 400), st.floats(0.5, 3.0))
def test_a_share_s_upper_bound_covers_it_and_narrows_with_more_trials(
        hits: int, extra: int, z: float) -> None:
    trials = hits + extra
    share = hits / trials
    bound = share_upper_bound(hits, trials, z)
    assert share <= bound + 1e-12 <= 1.0 + 1e-12
    # The same share seen over ten times as many trials is known more closely.
    assert share_upper_bound(10 * hits, 10 * trials, z) <= bound + 1e-12


def test_a_share_seen_over_no_trials_may_be_anything() -> None:
    assert share_upper_bound(0, 0, 2.33) == 1.0
    # Nothing odd in 20 checks still allows about a fifth; in 2,000, a quarter of a percent.
    assert 0.15 < share_upper_bound(0, 20, 2.33) < 0.25
    assert share_upper_bound(0, 2000, 2.33) < 0.003


@given(st.floats(0.1, 50.0), st.integers(0, 200), st.integers(0, 200))
def test_poisson_surprisal_grows_with_the_count(lam: float, a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert poisson_tail_bits(low, lam) <= poisson_tail_bits(high, lam) + 1e-9
    if low <= lam:
        assert poisson_tail_bits(low, lam) == 0.0


def test_extreme_counts_are_capped_not_infinite() -> None:
    assert poisson_tail_bits(10_000, 0.001) == 60.0
    assert binomial_tail_bits(500, 500, 0.0001) == 60.0
    assert normal_lower_tail_bits(-50.0) == 60.0
    assert normal_lower_tail_bits(0.5) == 0.0


def test_machine_regular_timing_is_surprising_and_human_timing_is_not() -> None:
    rng = random.Random(7)
    regular = [30.0 + rng.uniform(-0.5, 0.5) for _ in range(20)]
    bits, cv = regularity_bits(len(regular), sum(regular), sum(x * x for x in regular),
                               reference_cv=0.6, min_count=12)
    assert cv < 0.05
    assert bits > 30
    surprised = 0
    for seed in range(200):
        rng = random.Random(seed)
        human = [rng.expovariate(1 / 120) for _ in range(rng.randint(12, 32))]
        bits, _ = regularity_bits(len(human), sum(human), sum(x * x for x in human),
                                  reference_cv=0.6, min_count=12)
        surprised += bits > 6
    print(f"exponential (human-like) sessions with > 6 bits of regularity: {surprised}/200")
    assert surprised <= 2
    assert regularity_bits(5, 5.0, 5.0, reference_cv=0.6, min_count=12) == (0.0, 1.0)


@given(st.data())
def test_rate_evidence_skips_only_what_could_not_reach_the_report_floor(
        data: st.DataObject) -> None:
    # rate_evidence skips the tails when a cheap upper bound stays under the floor: it must
    # give what the tails themselves give, above all near the floor (few trials, most of
    # them hits), for young and seasoned windows alike.
    def counts(most: float) -> tuple[float, float]:
        trials = data.draw(st.floats(0.0, most))
        share = data.draw(st.one_of(st.just(1.0), st.floats(0.0, 1.0)))
        return trials * share, trials

    session_trials = data.draw(st.integers(0, 12))
    session_hits = data.draw(st.one_of(st.just(session_trials), st.integers(0, session_trials)))
    short_hits, short_trials = counts(data.draw(st.sampled_from([3.0, 30.0])))
    long_hits, long_trials = counts(data.draw(st.sampled_from([4.0, 200.0])))
    usual = data.draw(st.one_of(st.floats(0.0, 0.3), st.floats(0.0, 1.0)))
    judged = judged_rate(usual)
    best = max((binomial_tail_bits(h, t, judged)
                for h, t in ((float(session_hits), float(session_trials)),
                             (short_hits, short_trials),
                             (long_hits, long_trials)) if h > judged * t),
               default=0.0)
    found = rate_evidence("far", session_hits=session_hits, session_trials=session_trials,
                          recent=(short_hits, short_trials, long_hits, long_trials),
                          usual=usual, noun="pharmacy")
    if best - WINDOW_PENALTY < REPORT_ABOVE:
        assert found is None
    else:
        assert found is not None
        assert found.bits == best - WINDOW_PENALTY


@pytest.mark.parametrize("trials", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("above", [-0.2, -0.01, 0.01, 0.2, 1.0])
def test_rate_evidence_reports_a_short_session_just_above_the_floor(trials: int,
                                                                    above: float) -> None:
    # Every check a hit, at a rate set so the session's tail lands just off the floor.
    judged = 2.0 ** (-(REPORT_ABOVE + WINDOW_PENALTY + above) / trials)
    usual = (judged - 0.01) / 1.5
    found = rate_evidence("far", session_hits=trials, session_trials=trials,
                          recent=(1.0, 1.0, 1.0, 1.0), usual=usual, noun="pharmacy")
    bits = binomial_tail_bits(trials, trials, judged_rate(usual)) - WINDOW_PENALTY
    assert (found is not None) is (bits >= REPORT_ABOVE)
    assert (found is not None) is (above > 0)
