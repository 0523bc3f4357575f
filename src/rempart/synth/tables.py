"""The reference tables shipped in `data/`, loaded and checked once per run.

Where the figures come from (all approximate, typed in from general knowledge of
published statistics, good enough for a realistic synthetic population and nothing more):

- `departements.csv`: the 101 départements with their population (INSEE legal
  populations of the early 2020s, rounded to the thousand), their region and their
  approximate number of communes (for Paris, its 20 arrondissements, codes 101-120).
- `first_names.csv`: for each sex and decade of birth (1920 stands for 1929 and before,
  2020 for 2020 and after), the usual first names of that generation with their share
  of births in per mille, after the INSEE first-name files; only the common names are
  listed, so the weights are relative.
- `last_names.csv`: about 500 common surnames with the number of persons bearing them
  (INSEE births 1891-1990); the top 50 approximate the published counts, the others
  follow their rank on a smooth curve.
- `countries.csv`: countries of birth of persons born abroad, with INSEE country codes
  (the NIR's "commune" part when the département is 99) and relative weights after
  the immigration statistics.

Every name is checked to hold no field separator or control character, so rows can be
joined without quoting.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources

from rempart.synth.nir_allocator import NirPlace
from rempart.synth.weighted import Weighted

FIRST_DECADE = 1920
LAST_DECADE = 2020
OVERSEAS_PREFIX = "97"
ABROAD = "99"  # the NIR's département for persons born abroad


@dataclass(frozen=True, slots=True)
class Departement:
    index: int
    code: str
    name: str
    region: str
    population: int
    communes: int
    first_commune: int

    @property
    def overseas(self) -> bool:
        return self.code.startswith(OVERSEAS_PREFIX)

    def nir_place(self) -> NirPlace:
        return NirPlace(prefix=self.code, first=self.first_commune, count=self.communes)

    def postcodes(self) -> tuple[str, ...]:
        """Plausible postcodes of the département (about one per four communes)."""
        if self.code == "75":
            return tuple(f"750{i:02d}" for i in range(1, 21))
        if self.overseas:
            return tuple(f"{self.code}{10 * i:02d}" for i in range(min(10, self.communes)))
        count = max(5, min(99, self.communes // 4))
        if self.code in ("2A", "2B"):  # Corsican postcodes start with 20
            base = 0 if self.code == "2A" else 200
            return tuple(f"20{base + 10 * i:03d}" for i in range(min(count, 19)))
        return tuple(f"{self.code}{10 * i:03d}" for i in range(1, count + 1))


@dataclass(frozen=True, slots=True)
class Country:
    code: str
    name: str
    weight: int

    def nir_place(self) -> NirPlace:
        return NirPlace(prefix=ABROAD, first=int(self.code), count=1)


@dataclass(frozen=True)
class Tables:
    departements: tuple[Departement, ...]
    countries: tuple[Country, ...]
    # first_names[sex - 1][decade index]
    first_names: tuple[tuple[Weighted[str], ...], ...]
    last_names: Weighted[str]

    def decade_index(self, year: int) -> int:
        decade = min(max(year // 10 * 10, FIRST_DECADE), LAST_DECADE)
        return (decade - FIRST_DECADE) // 10


def _rows(filename: str) -> list[dict[str, str]]:
    text = resources.files("rempart.synth").joinpath("data", filename).read_text("utf-8")
    reader = csv.DictReader(io.StringIO(text), delimiter=";")
    rows = list(reader)
    for line, row in enumerate(rows, start=2):
        for column, value in row.items():
            if value is None or column is None or not value.strip():
                raise ValueError(f"{filename}, line {line}: missing or extra field")
            if any(ch in value for ch in ";\n\r\t") or not value.isprintable():
                raise ValueError(f"{filename}, line {line}, {column}: forbidden character")
    return rows


def _departements() -> tuple[Departement, ...]:
    result = []
    for index, row in enumerate(_rows("departements.csv")):
        result.append(Departement(
            index=index, code=row["code"], name=row["name"], region=row["region"],
            population=int(row["population"]), communes=int(row["communes"]),
            first_commune=int(row["first_commune"]),
        ))
    return tuple(result)


def _first_names() -> tuple[tuple[Weighted[str], ...], ...]:
    decades = range(FIRST_DECADE, LAST_DECADE + 1, 10)
    by_key: dict[tuple[str, int], list[tuple[str, float]]] = {
        (sex, decade): [] for sex in "MF" for decade in decades
    }
    for row in _rows("first_names.csv"):
        key = (row["sex"], int(row["decade"]))
        if key not in by_key:
            raise ValueError(f"first_names.csv: unknown sex or decade {key}")
        by_key[key].append((row["name"], float(row["per_mille"])))
    return tuple(
        tuple(Weighted(by_key[(sex, decade)]) for decade in decades) for sex in "MF"
    )


def load_tables() -> Tables:
    countries = tuple(
        Country(code=row["code"], name=row["name"], weight=int(row["weight"]))
        for row in _rows("countries.csv")
    )
    last_names = Weighted((row["name"], float(row["count"])) for row in _rows("last_names.csv"))
    return Tables(departements=_departements(), countries=countries,
                  first_names=_first_names(), last_names=last_names)
