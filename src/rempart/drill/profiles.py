"""Honest providers' orders of magnitude, per profession (issue 6).

A pharmacy sees about 450-530 visits an opening day; a minority are new third-party
payments that need a check (renewals reuse a recent answer). Opticians and dentists see a
few to a few dozen patients; a hospital's admissions office, hundreds of admissions; the
long tail (nurses, physiotherapists, hearing-aid centres) a few checks a day each.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    category: str  # the care category of its checks
    open_days: frozenset[int]  # weekday numbers, Monday = 0
    opens_h: float  # UTC hours (France is UTC+1 in March)
    closes_h: float
    visits: tuple[int, int]  # per opening day
    check_share: float  # the share of visits that need a check
    regular_share: float  # the share of checks for recurring patients


PROFILES: dict[str, Profile] = {
    "pharmacy": Profile("pharmacy", frozenset(range(6)), 7.5, 18.5, (450, 530), 0.08, 0.7),
    "optician": Profile("optical", frozenset(range(1, 6)), 8.5, 18.0, (3, 25), 0.8, 0.2),
    "dentist": Profile("dental", frozenset(range(5)), 7.5, 17.5, (8, 30), 0.6, 0.5),
    "hospital": Profile("hospital", frozenset(range(7)), 6.0, 20.0, (100, 300), 0.3, 0.1),
    # The long tail of a national platform (drill/long_tail.py): solo practices with a
    # few third-party-payment checks a day, mostly for their regular patients.
    "nurse": Profile("nursing", frozenset(range(6)), 6.0, 19.0, (15, 30), 0.15, 0.8),
    "physiotherapist": Profile("physiotherapy", frozenset(range(5)), 7.0, 18.0, (12, 25),
                               0.2, 0.8),
    "hearing_aid": Profile("hearing", frozenset(range(1, 6)), 8.0, 17.0, (2, 8), 0.5, 0.3),
}
# The drill's main honest accounts (`--accounts`) are of these professions.
BUSY_PROFESSIONS = frozenset({"pharmacy", "optician", "dentist", "hospital"})
LONG_TAIL_PROFESSIONS = ("nurse", "physiotherapist", "hearing_aid")
# Small practices check at the portal's forms; pharmacies and hospital admissions, with
# hundreds of patients a day, through their practice software over the API.
PORTAL_PROFESSIONS = frozenset({"optician", "dentist"})
BUSY_DAY_SHARE = 0.1  # a minority of days carry half as much again
CLAIM_SHARE = 0.95  # nearly every covered check is followed by a claim
TYPO_SHARE = 0.03  # a mistyped date of birth, retried a minute later
DAY_OFF_SHARE = 0.03  # a practice closed for a day of leave now and then
# Fixed-date French public holidays (month, day); hospitals stay open on them.
PUBLIC_HOLIDAYS = frozenset({(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11),
                             (12, 25)})
