"""The behaviour model's features: each turns what it sees into surprisal and a reason.

Every feature compares a count with what this account usually does (its own learnt
history shrunk towards its peer group), with margins for honest variation: rates
are judged against 1.5x the usual rate plus one point (see judged_rate); volumes against twice the
usual, over-dispersed (a quasi-Poisson with variance λ + λ²/10, since busy days
exist). Rates are looked at over three horizons — this session, the account's last
~24 checks, its last ~190 — and the most surprising one is kept, less 1.6 bits for
having looked three times.
"""

from __future__ import annotations

import math

from rempart.guard import rates as rw
from rempart.guard.decision import Evidence
from rempart.guard.peers import PeerPrior
from rempart.guard.profile import AccountProfile, SessionState
from rempart.guard.stats import binomial_tail_bits, poisson_tail_bits, regularity_bits

RATE_MARGIN = 1.5
RATE_SLACK = 0.01
VOLUME_MARGIN = 2.0
DISPERSION = 10.0
WINDOW_PENALTY = math.log2(3)
REPORT_ABOVE = 3.0
BURST_FLOOR_PER_MINUTE = 0.5
# Timing: machine-like below this coefficient of variation, judged over this many
# intervals at least.
REFERENCE_CV = 0.6
MIN_INTERVALS = 12
SESSIONS_BEFORE_NOVELTY = 3
# Each step-up asked and not passed lately counts this much against a new session.
UNRESOLVED_STEP_UP_BITS = 8.0
# ...from the second: one unanswered step-up may be a thief's key beside the practice's
# own software, which must not pay for it (the thief's device and network are tainted).
HISTORY_FROM = 1.9

_RATE_WORDING = {
    "new": "{k} of {n} patients {where} never seen by this {noun} before",
    "far": "{k} of {n} patients {where} live over 200 km from this {noun}",
    "fail": "{k} of {n} checks {where} matched no one",
    "near_miss": "{k} of {n} checks {where} nearly matched someone (right number, wrong details)",
    "unclaimed": "{k} of {n} covered checks {where} were never followed by a claim",
}


def usual_rate(name: str, prior: PeerPrior, profile: AccountProfile) -> float:
    base = prior.rates[name]
    if name == "new":
        # A young account's memory of its patients is empty, so to it nearly every
        # patient is new; the usual share falls to the peer's as the memory fills.
        filled = 1.0 - math.exp(-profile.learned_matched / (2.0 * prior.weekly_checks))
        base = 1.0 - (1.0 - base) * filled
    return rw.baseline(profile.rates, rw.OFFSET[name], base)


def judged_rate(usual: float) -> float:
    """The rate a feature is judged against: 1.5x the usual plus a point, or, for a
    feature that is usually near-certain (a hospital desk sees mostly new patients),
    its opposite shrunk to a third — never below the usual itself."""
    return min(usual * RATE_MARGIN + RATE_SLACK, 1.0 - (1.0 - usual) / 3.0)


# Per feature: the usual rate, the rate judged against, the most bits one trial adds.
Usual = dict[str, tuple[float, float, float]]
# rate_evidence's cheap bound: no tail over t trials says more than t x _hit_bits.
_BOUND = REPORT_ABOVE + WINDOW_PENALTY - 1e-6


def _hit_bits(judged: float) -> float:
    """log2(1/judged), the most one trial can add to a rate's tail (clamped)."""
    return -math.log2(min(max(judged, 1e-4), 1.0 - 1e-4))


def rate_evidence(name: str, *, session_hits: int, session_trials: int,
                  recent: tuple[float, float, float, float], usual: float,
                  noun: str) -> Evidence | None:
    """`recent`: the account's (short hits, short trials, long hits, long trials)."""
    judged = judged_rate(usual)
    # No binomial tail over t trials says more than t x log2(1/rate) (every trial a hit):
    # where even that stays under the report floor on every horizon (a young account,
    # a short session), the answer is None without the maths. The margin covers rounding.
    short_hits, short_trials, long_hits, long_trials = recent
    most = max(float(session_trials), short_trials, long_trials)
    hit_bits = _hit_bits(judged)
    if most * hit_bits < _BOUND:
        return None
    best, where, hits, trials = 0.0, "", 0.0, 0.0
    # Most checks of most accounts are below the judged rate everywhere: skip the maths.
    # So is a horizon too short to reach the floor: a horizon that does reach it says
    # more than it could, so it could not have been the answer either.
    for h, t, label in ((float(session_hits), float(session_trials), "in this session"),
                        (short_hits, short_trials, "among the account's latest"),
                        (long_hits, long_trials, "among the account's latest")):
        if h > judged * t and t * hit_bits >= _BOUND:
            bits = binomial_tail_bits(h, t, judged)
            if bits > best:
                best, where, hits, trials = bits, label, h, t
    best -= WINDOW_PENALTY
    if best < REPORT_ABOVE:
        return None
    text = _RATE_WORDING[name].format(k=round(hits), n=round(trials), where=where, noun=noun)
    share = 100.0 * hits / trials
    return Evidence(name, best, f"{text} ({share:.0f} %; usual {100 * usual:.0f} %)")


def usual_and_judged(profile: AccountProfile, prior: PeerPrior) -> Usual:
    """Per feature, the usual rate, the rate it is judged against, and the most bits one
    trial can add at that rate (rate_evidence's bound, kept with them: a check compares
    against it without calling rate_evidence for what could not be reported)."""
    found = {}
    for name in rw.OFFSET:
        usual = usual_rate(name, prior, profile)
        judged = judged_rate(usual)
        found[name] = (usual, judged, _hit_bits(judged))
    return found


def composition_evidence(profile: AccountProfile, session: SessionState, prior: PeerPrior,
                         usual: Usual) -> list[Evidence]:
    rates = profile.rates
    if not session.checks and not any(rates):
        # A new account's first check: every count is zero, nothing is above anything.
        return []
    found = []
    for name, at, hits, trials in (("new", rw.NEW, session.new, session.matched),
                                   ("far", rw.FAR, session.far, session.far_known),
                                   ("fail", rw.FAIL, session.fail, session.checks),
                                   ("near_miss", rw.NEAR_MISS, session.near, session.checks),
                                   ("unclaimed", rw.UNCLAIMED, 0, 0)):
        usual_share, judged, hit_bits = usual[name]
        # The usual case: nothing above the judged rate anywhere, nothing to compute.
        short_trials, long_trials = rates[at + rw.SHORT_TRIALS], rates[at + rw.LONG_TRIALS]
        if (hits <= judged * trials
                and rates[at + rw.SHORT_HITS] <= judged * short_trials
                and rates[at + rw.LONG_HITS] <= judged * long_trials):
            continue
        if max(float(trials), short_trials, long_trials) * hit_bits < _BOUND:
            continue  # rate_evidence's own first answer (a young account, a short session)
        item = rate_evidence(name, session_hits=hits, session_trials=trials,
                             recent=rw.recent(rates, at),
                             usual=usual_share, noun=prior.noun)
        if item is not None:
            found.append(item)
    return found


def _quasi_poisson_bits(count: float, expected: float) -> float:
    judged = expected * VOLUME_MARGIN
    dispersion = 1.0 + judged / DISPERSION
    return poisson_tail_bits(count / dispersion, judged / dispersion)


def volume_evidence(*, expected_hour: float, expected_day: float, hour_count: float,
                    day_count: float, minute_count: float, noun: str,
                    when: str) -> list[Evidence]:
    per_minute = max(expected_hour / 60.0, BURST_FLOOR_PER_MINUTE)
    if (hour_count <= VOLUME_MARGIN * expected_hour and day_count <= VOLUME_MARGIN * expected_day
            and minute_count <= VOLUME_MARGIN * per_minute):
        return []  # the usual case: within twice the usual everywhere
    found = []
    bits = _quasi_poisson_bits(hour_count, expected_hour)
    if bits >= REPORT_ABOVE:
        found.append(Evidence("volume.hour", bits, (
            f"{hour_count:.0f} checks in the last hour, {hour_count / expected_hour:.0f}x "
            f"this {noun}'s usual {expected_hour:.1f} around {when}")))
    bits = _quasi_poisson_bits(day_count, expected_day)
    if bits >= REPORT_ABOVE:
        found.append(Evidence("volume.day", bits, (
            f"{day_count:.0f} checks in the last 24 h, {day_count / expected_day:.0f}x "
            f"this {noun}'s usual {expected_day:.0f}")))
    bits = _quasi_poisson_bits(minute_count, per_minute)
    if bits >= REPORT_ABOVE:
        found.append(Evidence("volume.burst", bits, (
            f"{minute_count:.0f} checks in one minute from this session; "
            f"this {noun} usually makes {per_minute:.1f} a minute at this time")))
    return found


def timing_evidence(session: SessionState) -> list[Evidence]:
    count = len(session.intervals) if session.intervals is not None else 0
    if count < MIN_INTERVALS:
        return []
    mean = session.interval_sum / count
    variance = (session.interval_sq - session.interval_sum * mean) / (count - 1)
    if variance >= (REFERENCE_CV * mean) ** 2:
        return []  # at least as irregular as the bar: nothing to compute
    bits, cv = regularity_bits(count, session.interval_sum, session.interval_sq,
                               reference_cv=REFERENCE_CV, min_count=MIN_INTERVALS)
    if bits < REPORT_ABOVE:
        return []
    return [Evidence("timing", bits, (
        f"checks arrive every {mean:.1f} s with machine-like regularity "
        f"(variation {cv:.2f} over {count} intervals; people are irregular)"))]


def novelty_evidence(profile: AccountProfile, prior: PeerPrior, *, device: str,
                     block: str) -> list[Evidence]:
    """Standing evidence for a session opened from a device or network this account
    has not used (only once the account has a few sessions of its own)."""
    if profile.sessions < SESSIONS_BEFORE_NOVELTY:
        return []
    device_rate, block_rate = profile.novelty_rates(prior)
    parts, bits = [], 0.0
    if device not in profile.devices:
        bits -= math.log2(device_rate)
        parts.append(f"a device (usually {100 * device_rate:.1f} % of its sessions)")
    if block not in profile.blocks:
        bits -= math.log2(block_rate)
        parts.append(f"a network (usually {100 * block_rate:.1f} %)")
    if not parts:
        return []
    return [Evidence("novelty", bits,
                     "session opened from " + " and ".join(parts) +
                     f" this {prior.noun} has not used before")]



def history_evidence(profile: AccountProfile, ts: float, noun: str) -> list[Evidence]:
    """Standing evidence for a session of an account whose recent sessions were asked
    to step up and never did: what an attacker who cannot pass it leaves behind."""
    unresolved = profile.unresolved_step_ups(ts)
    if unresolved < HISTORY_FROM:
        return []
    return [Evidence("history", UNRESOLVED_STEP_UP_BITS * unresolved, (
        f"{unresolved:.0f} recent sessions of this {noun} were asked for a second factor "
        "and never gave it"))]
