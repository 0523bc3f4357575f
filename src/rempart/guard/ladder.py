"""The containment ladder: from evidence to a rung, with the reasons in plain words.

Each feature's surprisal counts only above a floor (a p-value of 1/16: honest
traffic produces small surprises all the time), and only the strongest feature of a
family counts (the hourly and the per-minute volume say the same thing). The sum is
the score.

- STEP_UP from 16 bits over the floors: one feature at 20 bits (p ~ 1e-6), two
  independent ones at 12 bits each, or three at 9.3; from two families at least, or
  one about how the session behaves (volume, timing, failed matches, near misses,
  claims, unanswered step-ups). One fact about who the patients are never asks alone:
  a practice whose patients come from afar (a hospital near a border, a seaside
  pharmacy in August) is unusual, not scraping.
- SUSPEND_SESSION from 32 bits with at least two strong families (8 bits above the
  floor each), one of which the session's behaviour itself shows (volume, timing,
  failed matches, near misses, claims): who the patients are (new, far away) can
  change honestly — a seaside pharmacy in August — so it can only ask for a step-up.
- SUSPEND_ACCOUNT from 56 bits with at least three strong families, under the same
  condition: strong, multi-signal evidence, and an alert.
A session that already stepped up carries its score at that time as a credit: the
next step-up needs that much more evidence (the suspensions do not). One rule stands
beside the score: an account whose sessions keep being asked for a second factor
and never give it (`unresolved_limit`) is suspended at the next step-up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rempart.guard.decision import Action, Evidence

# Families that describe who the patients are and where the session comes from, or what
# the platform as a whole sees — not how this session behaves. They can ask for a
# step-up, never suspend on their own.
IDENTITY_FAMILIES = frozenset({"new", "far", "novelty", "campaign"})


@dataclass(frozen=True, slots=True)
class LadderPolicy:
    floor_bits: float = 4.0
    step_up: float = 16.0
    suspend_session: float = 32.0
    suspend_account: float = 56.0
    strong: float = 8.0
    session_families: int = 2
    account_families: int = 3
    # Allowed traffic is learnt from only while its score stays below this.
    learn_below: float = 4.0
    # Attempts refused while a step-up is pending, after which the session is ended.
    refused_limit: int = 30
    # Step-ups asked of the account's sessions lately and never passed (a suspended
    # session counts as one), from which a further step-up suspends the account: someone
    # keeps logging in with the password who cannot give the second factor.
    unresolved_limit: float = 5.0


def family(feature: str) -> str:
    return feature.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class Assessment:
    score: float
    strong_families: frozenset[str]
    evidence: tuple[Evidence, ...]

    @property
    def behavioural_strong(self) -> bool:
        return bool(self.strong_families - IDENTITY_FAMILIES)

    @property
    def corroborated(self) -> bool:
        """Whether the evidence is more than one fact about who the patients are or
        where the session comes from: a behavioural family, or two of those."""
        families = {family(e.feature) for e in self.evidence}
        return bool(families - IDENTITY_FAMILIES) or len(families) >= 2

    def reasons(self) -> list[str]:
        return [e.reason for e in self.evidence]


NOTHING = Assessment(0.0, frozenset(), ())


def assess(evidence: Iterable[Evidence], policy: LadderPolicy) -> Assessment:
    best: dict[str, Evidence] = {}
    for item in evidence:
        key = family(item.feature)
        if item.bits > policy.floor_bits and (key not in best or item.bits > best[key].bits):
            best[key] = item
    if not best:
        return NOTHING
    counted = sorted(best.values(), key=lambda e: e.bits, reverse=True)
    excess = {family(e.feature): e.bits - policy.floor_bits for e in counted}
    strong = frozenset(k for k, v in excess.items() if v >= policy.strong)
    return Assessment(score=sum(excess.values()), strong_families=strong,
                      evidence=tuple(counted))


def rung(assessment: Assessment, *, credit: float, policy: LadderPolicy) -> Action:
    score = assessment.score
    strong = len(assessment.strong_families)
    behavioural = assessment.behavioural_strong
    if score >= policy.suspend_account and strong >= policy.account_families and behavioural:
        return Action.SUSPEND_ACCOUNT
    if score >= policy.suspend_session and strong >= policy.session_families and behavioural:
        return Action.SUSPEND_SESSION
    if score >= policy.step_up + credit and assessment.corroborated:
        return Action.STEP_UP
    return Action.ALLOW
