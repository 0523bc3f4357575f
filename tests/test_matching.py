"""The matcher: a candidate matches only when every presented field equals its sealed one."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from rempart.core.care import CareCategory
from rempart.coverage.check_store import Candidate
from rempart.coverage.matching import Matcher
from rempart.coverage.query import CheckQuery
from rempart.coverage.rules import ContractPeriod
from rempart.population.sealing import PersonFields, seal_person
from rempart.vault import Keyring, Vault

PERSON = PersonFields(
    nir="185057800608436", birth_date=dt.date(1985, 5, 12), birth_rank=1, last_name="Martin",
    first_name="Alice", marital_status="single", member_number="MA0001", postcode="75011",
    departement="75")
QUERY = CheckQuery(
    nir="185057800608436", birth_date=dt.date(1985, 5, 12), birth_rank=1,
    amc_number="12345678", member_number="MA0001", category=CareCategory.PHARMACY,
    care_date=dt.date(2026, 12, 1))


@pytest.fixture
def vault() -> Vault:
    return Vault(Keyring.generate())


def candidate(vault: Vault, person: PersonFields = PERSON,
              amc_number: str = "12345678") -> Candidate:
    member_idx = b"\x01" * 16
    return Candidate(
        beneficiary_id=7, key_version=vault.current_version, member_idx=member_idx,
        sealed=seal_person(vault, person, member_idx=member_idx), amc_number=amc_number,
        contract=ContractPeriod(start=dt.date(2020, 1, 1), end=None),
        contract_third_party=True, guarantees=[])


def test_the_candidate_whose_fields_all_match_is_found_with_its_departement(
        vault: Vault) -> None:
    row = candidate(vault)
    assert Matcher(vault).match_placed([row], QUERY) == (row, "75")


@pytest.mark.parametrize("change", [
    {"nir": "285057800608467"},
    {"birth_date": dt.date(1985, 5, 13)},
    {"birth_rank": 2},
    {"member_number": "MA0002"},
    {"amc_number": "12345679"},
])
def test_one_differing_field_is_no_match(vault: Vault, change: dict[str, object]) -> None:
    row = candidate(vault)
    assert Matcher(vault).match_placed([row], dataclasses.replace(QUERY, **change)) == (
        None, None)


def test_the_sealed_member_number_is_compared_normalised(vault: Vault) -> None:
    row = candidate(vault, dataclasses.replace(PERSON, member_number=" ma0001 "))
    assert Matcher(vault).match_placed([row], QUERY) == (row, "75")


def test_the_rows_insurer_is_compared_too(vault: Vault) -> None:
    assert Matcher(vault).match_placed([candidate(vault, amc_number="99999999")], QUERY) == (
        None, None)


def test_of_several_candidates_the_matching_one_is_found(vault: Vault) -> None:
    other = candidate(vault, dataclasses.replace(PERSON, birth_rank=2))
    row = candidate(vault)
    assert Matcher(vault).match_placed([other, row], QUERY) == (row, "75")


def test_no_candidate_is_no_match(vault: Vault) -> None:
    assert Matcher(vault).match_placed([], QUERY) == (None, None)


def test_a_tampered_row_is_no_match(vault: Vault) -> None:
    row = candidate(vault)
    tampered = dataclasses.replace(row, sealed=row.sealed[:-1] + bytes([row.sealed[-1] ^ 1]))
    assert Matcher(vault).match_placed([tampered], QUERY) == (None, None)
