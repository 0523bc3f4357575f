"""The drill's ground truth about people, read from the synthetic files it imported (and
invented outsiders): the application never sees these labels."""

from __future__ import annotations

import csv
import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

from rempart.core.identifiers import build_nir
from rempart.ingest.formats import DELIMITER


@dataclass(frozen=True)
class Person:
    key: str  # the drill's own label: "amc/member" for members, "out-n" for outsiders
    nir: str
    birth_date: dt.date
    birth_rank: int
    amc_number: str
    member_number: str
    last_name: str
    first_name: str
    postcode: str
    departement: str
    active: bool  # contract running today (a covered answer is expected)

    def payload(self, *, category: str, care_date: dt.date) -> dict[str, object]:
        return {"nir": self.nir, "birth_date": self.birth_date.isoformat(),
                "birth_rank": self.birth_rank, "amc_number": self.amc_number,
                "member_number": self.member_number, "category": category,
                "care_date": care_date.isoformat()}


def read_members(directory: Path, *, today: dt.date) -> list[Person]:
    people: list[Person] = []
    for path in sorted(directory.glob("members-*.csv")):
        lines = [line for line in path.read_text(encoding="utf-8").splitlines()
                 if line and not line.startswith("#")]
        for row in csv.DictReader(lines, delimiter=DELIMITER):
            end = row["contract_end"]
            start = dt.date.fromisoformat(row["contract_start"])
            active = start <= today and (not end or dt.date.fromisoformat(end) >= today)
            people.append(Person(
                key=f"{row['amc_number']}/{row['member_number']}", nir=row["nir"],
                birth_date=dt.date.fromisoformat(row["birth_date"]),
                birth_rank=int(row["birth_rank"]), amc_number=row["amc_number"],
                member_number=row["member_number"], last_name=row["last_name"],
                first_name=row["first_name"], postcode=row["postcode"],
                departement=row["departement"], active=active))
    return people


def outsiders(rng: random.Random, members: list[Person], count: int) -> list[Person]:
    """Valid-looking people who are in no file: real insurers' numbers, invented members."""
    made = []
    for n in range(count):
        model = rng.choice(members)
        year, month = rng.randint(1940, 2015), rng.randint(1, 12)
        nir = build_nir(sex=rng.randint(1, 2), birth_year=year, birth_month=month,
                        place="75056", serial=rng.randint(1, 999))
        made.append(Person(
            key=f"out-{n}", nir=nir, birth_date=dt.date(year, month, rng.randint(1, 28)),
            birth_rank=1, amc_number=model.amc_number,
            member_number=f"{model.member_number[:-4]}{rng.randint(0, 9999):04d}",
            last_name="", first_name="", postcode=model.postcode,
            departement=model.departement, active=False))
    return made
