"""The building blocks of the synthetic population: NIR allocation, unique numbers,
weighted choice, reference tables and provider counts."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rempart.core.care import Profession
from rempart.core.identifiers import build_nir, validate_nir
from rempart.ingest import fields
from rempart.synth import SynthError
from rempart.synth.nir_allocator import SERIALS, NirAllocator, NirPlace, overlapping
from rempart.synth.providers import SPECS, organisation_count
from rempart.synth.scramble import Scrambler
from rempart.synth.tables import load_tables
from rempart.synth.weighted import Weighted

PREFIXES = [f"{i:02d}" for i in range(1, 96) if i != 20] + ["2A", "2B", "971", "972",
                                                              "973", "974", "976"]
places = st.builds(
    NirPlace,
    prefix=st.sampled_from(PREFIXES),
    first=st.integers(min_value=1, max_value=5),
    count=st.integers(min_value=1, max_value=20),
) | st.builds(NirPlace, prefix=st.just("99"), first=st.integers(100, 499), count=st.just(1))


@settings(max_examples=60, deadline=None)
@given(place_list=st.lists(places, min_size=1, max_size=4).filter(
    lambda listed: not overlapping(listed)),
       births=st.lists(st.tuples(st.integers(1, 2), st.integers(1900, 2030),
                                 st.integers(1, 12), st.integers(0, 3)), max_size=200))
def test_allocated_nirs_are_valid_unique_and_agree_with_build_nir(
        place_list: list[NirPlace], births: list[tuple[int, int, int, int]]) -> None:
    allocator = NirAllocator(place_list)
    seen = set()
    for sex, year, month, place in births:
        place %= len(place_list)
        nir = allocator.allocate(sex, year, month, place)
        assert validate_nir(nir) == nir
        assert nir == build_nir(sex=sex, birth_year=year, birth_month=month, place=nir[5:10],
                                serial=int(nir[10:13]))
        assert int(nir[1:3]) == year % 100
        assert int(nir[3:5]) == month
        assert nir[5:5 + len(place_list[place].prefix)] == place_list[place].prefix
        assert nir not in seen
        seen.add(nir)


def test_a_full_bucket_moves_to_the_next_place_then_refuses() -> None:
    allocator = NirAllocator([NirPlace("2A", 4, 2), NirPlace("99", 352, 1)])
    first = [allocator.allocate(2, 1987, 3, 0) for _ in range(2 * SERIALS)]
    assert len(set(first)) == 2 * SERIALS
    assert {nir[5:10] for nir in first} == {"2A004", "2A005"}
    spill = [allocator.allocate(2, 1987, 3, 0) for _ in range(SERIALS)]
    assert {nir[5:10] for nir in spill} == {"99352"}
    with pytest.raises(SynthError):
        allocator.allocate(2, 2087, 3, 0)  # same two-digit year: same bucket
    # other buckets are untouched
    assert allocator.allocate(1, 1987, 3, 0)[5:7] == "2A"
    assert allocator.allocate(2, 1987, 4, 0)[5:7] == "2A"


def test_a_century_apart_shares_the_bucket_but_not_the_number() -> None:
    allocator = NirAllocator([NirPlace("75", 101, 1)])
    old, young = allocator.allocate(1, 1925, 6, 0), allocator.allocate(1, 2025, 6, 0)
    assert old != young
    assert old[:10] == young[:10]


def test_overlapping_birth_places_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        NirAllocator([NirPlace("99", 100, 1), NirPlace("99", 100, 1)])
    with pytest.raises(ValueError, match="overlap"):
        NirAllocator([NirPlace("01", 1, 5), NirPlace("01", 3, 2)])
    NirAllocator([NirPlace("01", 1, 2), NirPlace("01", 3, 2), NirPlace("02", 1, 2)])


def test_nir_place_rejects_codes_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="fit"):
        NirPlace("971", 95, 10)
    with pytest.raises(ValueError, match="prefix"):
        NirPlace("7", 1, 1)


def test_scrambler_is_a_bijection_then_refuses() -> None:
    scrambler = Scrambler(name="test numbers", modulus=1_000, multiplier=761, offset=42)
    values = [scrambler.next() for _ in range(1_000)]
    assert sorted(values) == list(range(1_000))
    assert sum(b == a + 1 for a, b in itertools.pairwise(values)) < 10  # not sequential
    with pytest.raises(SynthError, match="test numbers"):
        scrambler.next()
    with pytest.raises(ValueError, match="coprime"):
        Scrambler(name="bad", modulus=1_000, multiplier=250, offset=0)


def test_weighted_choice_follows_weights_and_skips_zero() -> None:
    table = Weighted([("never", 0.0), ("rare", 1.0), ("common", 3.0)])
    rng = random.Random(4)
    draws = [table.pick(rng) for _ in range(20_000)]
    assert "never" not in draws
    assert 0.72 <= draws.count("common") / len(draws) <= 0.78
    a, b = random.Random(9), random.Random(9)
    sampler = table.sampler(b)
    assert [table.pick(a) for _ in range(100)] == [sampler() for _ in range(100)]


@pytest.mark.parametrize("pairs", [[], [("x", 0.0)], [("x", -1.0)]])
def test_weighted_choice_needs_positive_weights(pairs: list[tuple[str, float]]) -> None:
    with pytest.raises(ValueError, match="weight"):
        Weighted(pairs)


def test_reference_tables_cover_france() -> None:
    tables = load_tables()
    codes = [d.code for d in tables.departements]
    assert len(codes) == len(set(codes)) == 101
    assert {"2A", "2B", "971", "972", "973", "974", "976"} <= set(codes)
    assert 64_000_000 < sum(d.population for d in tables.departements) < 70_000_000
    for departement in tables.departements:
        assert fields.departement("departement", departement.code) == departement.code
        for postcode in departement.postcodes():
            assert fields.postcode("postcode", postcode) == postcode
        place = departement.nir_place()
        nir = NirAllocator([place]).allocate(1, 1980, 5, 0)
        assert validate_nir(nir)
        assert nir[5:5 + len(departement.code)] == departement.code
    for sex_tables in tables.first_names:
        assert len(sex_tables) == 11
        assert all(len(t) >= 40 for t in sex_tables)
    assert len(tables.last_names) >= 500
    assert all(len(c.code) == 3 for c in tables.countries)


def test_data_files_stay_small() -> None:
    data = Path(__file__).resolve().parents[1] / "src" / "rempart" / "synth" / "data"
    assert sum(p.stat().st_size for p in data.glob("*.csv")) < 200 * 1024


def test_provider_counts_scale_with_the_population_with_a_minimum() -> None:
    by_profession = {spec.profession: spec for spec in SPECS}
    assert set(by_profession) == set(Profession)
    assert organisation_count(by_profession[Profession.PHARMACY], 68_000_000) == 20_000
    assert organisation_count(by_profession[Profession.HOSPITAL], 34_000_000) == 1_500
    assert all(organisation_count(spec, 10) == 2 for spec in SPECS)
    opticians = by_profession[Profession.OPTICIAN]
    mean_staff = sum(opticians.staff) / 2
    assert 40_000 <= opticians.organisations_in_france * mean_staff <= 48_000

