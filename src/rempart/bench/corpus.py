"""The check requests a benchmark sends, drawn from the synthetic population's own files.

Real counter traffic is mostly patients whose card matches the insurer's file, some
typing mistakes (a member number, a birth rank, a date of birth) and some people the
operator does not cover at all; the care categories lean on pharmacy. Every drawn
request is valid (it gets a 201): malformed requests are refused before any work and
would only flatter the figure.

The bodies hold synthetic personal data: they go to the load generator through a pipe
and are never printed.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import orjson

from rempart.bench.errors import BenchError
from rempart.core.identifiers import build_nir
from rempart.ingest.formats import COLUMNS, DELIMITER, FileKind
from rempart.synth import SynthManifest

_MEMBER_COLUMNS = COLUMNS[FileKind.MEMBERS]
_AMC = _MEMBER_COLUMNS.index("amc_number")
_MEMBER = _MEMBER_COLUMNS.index("member_number")
_NIR = _MEMBER_COLUMNS.index("nir")
_BIRTH_DATE = _MEMBER_COLUMNS.index("birth_date")
_BIRTH_RANK = _MEMBER_COLUMNS.index("birth_rank")

# Shares of care categories at a counter (pharmacies dominate third-party payment).
CATEGORY_WEIGHTS = {
    "pharmacy": 50, "consultation": 10, "laboratory": 8, "optical": 7, "dental": 8,
    "physiotherapy": 6, "nursing": 5, "hearing": 2, "hospital": 4,
}

# Mainland départements by number (20, Corsica, is written 2A/2B and left out).
_DEPARTEMENTS = [number for number in range(1, 96) if number != 20]


@dataclass(frozen=True)
class CorpusMix:
    """Shares of the corpus; what is left after typos and strangers matches exactly."""

    typo: float = 0.08
    unknown: float = 0.07


@dataclass(frozen=True, slots=True)
class _Card:
    amc_number: str
    member_number: str
    nir: str
    birth_date: dt.date
    birth_rank: int


def draw_check_bodies(population_dir: Path, *, count: int, seed: int, care_date: dt.date,
                      mix: CorpusMix | None = None) -> list[bytes]:
    """`count` JSON bodies for POST /api/v1/checks, in a shuffled order."""
    mix = mix or CorpusMix()
    rng = random.Random(seed)
    cards = _sample_cards(population_dir, count, rng)
    amc_numbers = sorted({card.amc_number for card in cards})
    categories = list(CATEGORY_WEIGHTS)
    weights = list(CATEGORY_WEIGHTS.values())
    bodies = []
    for index in range(count):
        card = cards[index % len(cards)]
        draw = rng.random()
        if draw < mix.unknown:
            card = _stranger(rng, amc_numbers)
        elif draw < mix.unknown + mix.typo:
            card = _with_typo(rng, card)
        category = rng.choices(categories, weights)[0]
        bodies.append(orjson.dumps({
            "nir": card.nir, "birth_date": card.birth_date.isoformat(),
            "birth_rank": card.birth_rank, "amc_number": card.amc_number,
            "member_number": card.member_number, "category": category,
            "care_date": care_date.isoformat(),
        }))
    return bodies


def _sample_cards(population_dir: Path, count: int, rng: random.Random) -> list[_Card]:
    """A uniform sample of `count` members rows (reservoir sampling: one pass, bounded)."""
    sample: list[list[str]] = []
    for seen, row in enumerate(_member_rows(population_dir)):
        if seen < count:
            sample.append(row)
        else:
            slot = rng.randrange(seen + 1)
            if slot < count:
                sample[slot] = row
    if not sample:
        raise BenchError("the population has no members rows")
    return [_Card(amc_number=row[_AMC], member_number=row[_MEMBER], nir=row[_NIR],
                  birth_date=dt.date.fromisoformat(row[_BIRTH_DATE]),
                  birth_rank=int(row[_BIRTH_RANK])) for row in sample]


def _member_rows(population_dir: Path) -> Iterator[list[str]]:
    manifest = SynthManifest.load(population_dir)
    for file in manifest.files:
        if file.kind is not FileKind.MEMBERS:
            continue
        with (population_dir / file.name).open(encoding="utf-8") as handle:
            handle.readline()  # header
            handle.readline()  # columns
            for line in handle:
                if not line.startswith("#"):
                    yield line.rstrip("\n").split(DELIMITER)


def _with_typo(rng: random.Random, card: _Card) -> _Card:
    """One field mistyped, the rest as on the card; every value still valid on its own."""
    kind = rng.randrange(3)
    if kind == 0:
        last = card.member_number[-1]
        wrong = str((int(last) + 1) % 10) if last.isdigit() else "0"
        return replace(card, member_number=card.member_number[:-1] + wrong)
    if kind == 1:
        return replace(card, birth_rank=card.birth_rank % 3 + 1)
    shifted = card.birth_date - dt.timedelta(days=1)
    return replace(card, birth_date=shifted)


def _stranger(rng: random.Random, amc_numbers: list[str]) -> _Card:
    """Someone the operator does not cover, with a plausible card of a real insurer."""
    birth = dt.date(rng.randint(1935, 2015), rng.randint(1, 12), rng.randint(1, 28))
    nir = build_nir(sex=rng.randint(1, 2), birth_year=birth.year, birth_month=birth.month,
                    place=f"{rng.choice(_DEPARTEMENTS):02d}{rng.randint(1, 400):03d}",
                    serial=rng.randint(1, 999))
    return _Card(amc_number=rng.choice(amc_numbers),
                 member_number=str(rng.randrange(10**11, 10**12)), nir=nir,
                 birth_date=birth, birth_rank=1)
