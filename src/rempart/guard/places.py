"""A session's far-away patients: read from a national list, or a practice's catchment?

Split from rempart.guard.campaign (which re-exports it): `campaign.young` counts only
the far-away patients that look like a list's reads (list_like).
"""

from __future__ import annotations

from rempart.guard.geo import normalise_departement
from rempart.guard.stats import binomial_tail_bits

# A session's far-away patients' départements, each remembered up to twice (see
# list_like), this many entries in all: past them, a session is spread like a list.
MAX_PLACES = 24
# A leaked national list spreads its people over the country like its population: no
# département holds more than about 4 % of France (Nord 3.8 %), or 5 % of the people
# who live over 200 km from a given provider (Paris's far-away France is three quarters
# of it). Taken as an upper bound, so that a list reader is never taken for a catchment
# more often than catchment_bits says.
PLACE_SHARE_MAX = 0.06
# Far-away patients are a catchment, not a list, from this much evidence (1 in 256).
CATCHMENT_BITS = 8.0


def note_place(places: tuple[str, ...], departement: str) -> tuple[str, ...]:
    """A session's far-away patients' départements with one more patient's: each kept up
    to twice (once, or again: all list_like needs), MAX_PLACES entries at most."""
    place = normalise_departement(departement)
    if len(places) >= MAX_PLACES or places.count(place) >= 2:
        return places
    return (*places, place)


def catchment_bits(far: float, places: int) -> float:
    """Evidence, in bits, that a session's `far` far-away patients, living in `places`
    départements, are not reads from a national list: how unlikely so many repeats
    (far - places) would be from one.

    A leaked list's people live where the country lives: its i-th far-away person is in
    a département already seen with probability at most PLACE_SHARE_MAX x the places
    seen so far, so the repeats are at most a binomial of that rate, whose tail (a
    Chernoff bound, never more surprised than the truth) this is. Two patients in two
    places say nothing; a hospital's 18 in 4 départements say a lot."""
    repeats = far - places
    if places <= 0 or repeats <= 0.0:
        return 0.0
    return binomial_tail_bits(repeats, far - 1.0, min(1.0, places * PLACE_SHARE_MAX))


def list_like(far: float, places: tuple[str, ...]) -> float:
    """How many of a session's `far` far-away patients may be reads from a national
    list: all of them, unless they are a catchment (catchment_bits at CATCHMENT_BITS or
    more); then those alone in their département.

    An honest practice whose patients live far away — an overseas hospital, a border
    town, a seaside resort's visitors — sees the same few places again and again; a
    list reader's far-away people are spread over a hundred départements (two or three
    of them may share one by chance: the bar is set so that a list reader passes it
    less than once in 256 sessions). Every one counts once the session's places outgrow
    its memory."""
    if len(places) >= MAX_PLACES:
        return far
    distinct = set(places)
    if catchment_bits(far, len(distinct)) < CATCHMENT_BITS:
        return far
    return float(sum(1 for place in distinct if places.count(place) == 1))
