"""Identifiers: published examples, and properties over generated ones."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rempart.core import identifiers as ids
from rempart.core.errors import InvalidIdentifier

# Published examples: Wikipedia's NIR examples and python-stdnum's Corsican ones.
VALID_NIRS = ["184127645108946", "2 69 05 49 588 157 80", "295109912611193",
              "253072B07300470", "253072A07300443"]
INVALID_NIRS = [
    "295109912611199",  # wrong key
    "253072C07300443",  # no département 2C
    "18412764510894",  # one digit short
    "384127645108946x",
    "",
    "584127645108946",  # sex digit 5 does not exist (key recomputed below)
]
# Real establishments: AP-HP, AP-HM, Hospices civils de Lyon, CH de Bourg-en-Bresse.
VALID_FINESS = ["750712184", "130786049", "690781810", "010780054", "2A0000010"]
VALID_SIRETS = ["73282932000074", "40483304800022", "35600000000048"]


@pytest.mark.parametrize("value", VALID_NIRS)
def test_published_nirs_validate(value: str) -> None:
    assert ids.validate_nir(value) == value.replace(" ", "")


@pytest.mark.parametrize("value", INVALID_NIRS)
def test_invalid_nirs_are_refused(value: str) -> None:
    if value.startswith("5"):
        value = value[:13] + ids.build_nir(sex=1, birth_year=1984, birth_month=12,
                                           place="76451", serial=89)[13:]
    with pytest.raises(InvalidIdentifier) as err:
        ids.validate_nir(value)
    assert value not in str(err.value) or value == ""


def test_nir_month_out_of_range_is_refused() -> None:
    body = "1841376451089"
    with pytest.raises(InvalidIdentifier, match="month"):
        ids.validate_nir(body + f"{97 - int(body) % 97:02d}")


def test_nir_consistency_with_birth_date() -> None:
    assert ids.nir_matches_birth_date("184127645108946", dt.date(1984, 12, 3))
    assert not ids.nir_matches_birth_date("184127645108946", dt.date(1985, 12, 3))
    assert not ids.nir_matches_birth_date("184127645108946", dt.date(1984, 11, 3))


@pytest.mark.parametrize("value", VALID_SIRETS)
def test_published_sirets_validate(value: str) -> None:
    assert ids.validate_siret(value) == value
    assert ids.validate_siren(value[:9]) == value[:9]


def test_siret_with_wrong_key_is_refused() -> None:
    with pytest.raises(InvalidIdentifier, match="SIRET"):
        ids.validate_siret("73282932000075")


@pytest.mark.parametrize("value", VALID_FINESS)
def test_published_finess_validate(value: str) -> None:
    assert ids.validate_finess(value) == value


@pytest.mark.parametrize("value", ["750712185", "75071218", "7507121840", "2C0000010", "AB0712184"])
def test_bad_finess_is_refused(value: str) -> None:
    with pytest.raises(InvalidIdentifier, match="FINESS"):
        ids.validate_finess(value)


def test_rpps_luhn_key() -> None:
    number = ids.build_rpps(123456789)
    assert ids.validate_rpps(number) == number
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    with pytest.raises(InvalidIdentifier, match="RPPS"):
        ids.validate_rpps(wrong)
    with pytest.raises(InvalidIdentifier, match="11 digits"):
        ids.validate_rpps("1234")


departements = st.sampled_from(
    [f"{d:02d}" for d in range(1, 96) if d != 20] + ["2A", "2B", "97", "99"]
)
nir_parts = st.fixed_dictionaries({
    "sex": st.sampled_from([1, 2]),
    "birth_year": st.integers(1900, 2026),
    "birth_month": st.integers(1, 12),
    "dep": departements,
    "commune": st.integers(1, 999),
    "serial": st.integers(1, 999),
})


def _nir(parts: dict[str, int | str]) -> str:
    place = f"{parts['dep']}{int(parts['commune']):03d}"
    return ids.build_nir(sex=int(parts["sex"]), birth_year=int(parts["birth_year"]),
                         birth_month=int(parts["birth_month"]), place=place,
                         serial=int(parts["serial"]))


@given(nir_parts)
def test_every_built_nir_validates(parts: dict[str, int | str]) -> None:
    nir = _nir(parts)
    assert ids.validate_nir(nir) == nir
    birth = dt.date(int(parts["birth_year"]), int(parts["birth_month"]), 1)
    assert ids.nir_matches_birth_date(nir, birth)


@given(nir_parts, st.integers(0, 14), st.integers(1, 9))
def test_any_single_digit_change_of_a_nir_is_refused(
    parts: dict[str, int | str], position: int, delta: int
) -> None:
    nir = _nir(parts)
    if not nir[position].isdigit():
        return  # the letter of 2A/2B: changing it is covered by the format tests
    changed = nir[:position] + str((int(nir[position]) + delta) % 10) + nir[position + 1:]
    with pytest.raises(InvalidIdentifier):
        ids.validate_nir(changed)


@given(st.integers(0, 10**8 - 1), st.integers(1, 9999))
def test_every_built_siret_validates(siren_body: int, establishment: int) -> None:
    siret = ids.build_siret(siren_body=siren_body, establishment=establishment)
    assert ids.validate_siret(siret) == siret


@pytest.mark.parametrize("establishment", [1, 4, 9999])
def test_built_la_poste_sirets_follow_its_own_key(establishment: int) -> None:
    # SIREN 356000000: its establishments' digits sum to a multiple of 5 (no Luhn key),
    # the head office (35600000000048) keeps the Luhn key.
    siret = ids.build_siret(siren_body=35_600_000, establishment=establishment)
    assert siret.startswith("356000000")
    assert ids.validate_siret(siret) == siret
    assert (siret == "35600000000048") == (establishment == 4)


@given(st.integers(0, 10**9 - 1))
def test_every_built_rpps_validates(body: int) -> None:
    assert ids.validate_rpps(ids.build_rpps(body))


@given(st.sampled_from([f"{d:02d}" for d in range(1, 96) if d != 20] + ["2A", "2B"]),
       st.integers(0, 10**6 - 1))
def test_every_built_finess_validates(dep: str, body: int) -> None:
    assert ids.validate_finess(ids.build_finess(departement=dep, body=body))
