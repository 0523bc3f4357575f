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
def distance_km(a: str, b: str) -> float | None:
    """Great-circle distance between two départements' centroids; None if either is unknown."""
    table = centroids()
    first = table.get(normalise_departement(a))
    second = table.get(normalise_departement(b))
    if first is None or second is None:
        return None
    lat1, lon1 = map(math.radians, first)
    lat2, lon2 = map(math.radians, second)
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def is_far(a: str, b: str) -> bool | None:
    """Whether two départements are over FAR_KM apart (None when unknown)."""
    d = distance_km(a, b)
    return None if d is None else d > FAR_KM
