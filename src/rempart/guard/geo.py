"""Approximate distances between départements, from a small table of centroids.

Good to a few tens of kilometres, which is all the guard needs: it asks whether a
patient lives near the provider, in the region, or far away (over 200 km).
"""

from __future__ import annotations

import csv
import math
from functools import cache
from importlib import resources

EARTH_RADIUS_KM = 6371.0
FAR_KM = 200.0


@cache
def centroids() -> dict[str, tuple[float, float]]:
    """Département code -> (latitude, longitude) in degrees, loaded once from package data."""
    text = resources.files("rempart.guard").joinpath("data/departements.csv").read_text("utf-8")
    return {row["code"]: (float(row["lat"]), float(row["lon"]))
            for row in csv.DictReader(text.splitlines())}


def normalise_departement(code: str) -> str:
    """'1' -> '01', '2a' -> '2A'; overseas codes (971...) stay three digits."""
    code = code.strip().upper()
    return code.zfill(2) if code.isdigit() and len(code) < 2 else code


@cache
def _radians() -> dict[str, tuple[float, float, float]]:
    """Département code -> (latitude, longitude) in radians and the latitude's cosine,
    computed once: what every distance needs of each end (the same floats as computing
    them per pair)."""
    return {code: (math.radians(lat), math.radians(lon), math.cos(math.radians(lat)))
            for code, (lat, lon) in centroids().items()}


@cache
def distance_km(a: str, b: str) -> float | None:
    """Great-circle distance between two départements' centroids; None if either is unknown."""
    table = _radians()
    first = table.get(a) or table.get(normalise_departement(a))
    second = table.get(b) or table.get(normalise_departement(b))
    if first is None or second is None:
        return None
    lat1, lon1, cos1 = first
    lat2, lon2, cos2 = second
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + cos1 * cos2 * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@cache
def is_far(a: str, b: str) -> bool | None:
    """Whether two départements are over FAR_KM apart (None when unknown). Cached as
    distance_km is: asked on nearly every matched check, of a few thousand pairs."""
    d = distance_km(a, b)
    return None if d is None else d > FAR_KM
