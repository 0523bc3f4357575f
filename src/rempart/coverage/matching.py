"""Matching what the provider presents against a sealed beneficiary row.

The look-up narrows by two blind indexes (identity: NIR + date of birth; member: AMC +
member number), so at most one row comes back. Then the row is opened and every
presented field is compared with the sealed one, without short-circuit. When no row
comes back, a dummy row is opened and compared all the same: a miss costs what a hit
costs, so timing does not tell an unknown person from a known one.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import os

from rempart.coverage.check_store import Candidate
from rempart.coverage.query import CheckQuery
from rempart.population.sealing import (
    PersonFields,
    identity_candidates,
    member_index,
    normalise_member_number,
    open_person,
    seal_person,
)
from rempart.vault import TamperedCiphertext, Vault

log = logging.getLogger(__name__)

_DUMMY_PERSON = PersonFields(
    nir="100000000000000", birth_date=dt.date(1900, 1, 1), birth_rank=1, last_name="-",
    first_name="-", marital_status="unknown", member_number="-", postcode="00000",
    departement="00",
)


class Matcher:
    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        self._dummy_idx = os.urandom(16)
        self._dummy_version = vault.current_version
        self._dummy_blob = seal_person(vault, _DUMMY_PERSON, member_idx=self._dummy_idx)

    def identity_indexes(self, query: CheckQuery) -> list[bytes]:
        return identity_candidates(self._vault, query.nir, query.birth_date)

    def member_indexes(self, query: CheckQuery) -> list[bytes]:
        return [member_index(self._vault, query.amc_number, query.member_number, version=v)
                for v in self._vault.keyring.versions]

    def match_placed(self, candidates: list[Candidate],
                     query: CheckQuery) -> tuple[Candidate | None, str | None]:
        """The candidate whose sealed fields all equal the query's, if any, and its
        département (for the exfiltration guard)."""
        if not candidates:
            self._same_as(self._open_dummy(), "-", query)
            return None, None
        found, place = None, None
        for candidate in candidates:
            person = self._open(candidate)
            if person is not None and self._same_as(person, candidate.amc_number, query):
                found, place = candidate, person.departement
        return found, place

    def _open(self, candidate: Candidate) -> PersonFields | None:
        try:
            return open_person(self._vault, candidate.sealed, version=candidate.key_version,
                               member_idx=candidate.member_idx)
        except TamperedCiphertext:
            # An integrity incident, not an answer: the caller gets a plain negative.
            log.warning("sealed beneficiary row failed authentication",
                        extra={"beneficiary_id": candidate.beneficiary_id})
            return None

    def _open_dummy(self) -> PersonFields:
        return open_person(self._vault, self._dummy_blob, version=self._dummy_version,
                           member_idx=self._dummy_idx)

    @staticmethod
    def _same_as(person: PersonFields, amc_number: str, query: CheckQuery) -> bool:
        # `&` rather than `and`: every comparison runs whatever the first ones found.
        return (
            _equal(person.nir, query.nir)
            & _equal(person.birth_date.isoformat(), query.birth_date.isoformat())
            & _equal(str(person.birth_rank), str(query.birth_rank))
            & _equal(normalise_member_number(person.member_number), query.member_number)
            & _equal(amc_number, query.amc_number)
        )


def _equal(stored: str, presented: str) -> bool:
    return hmac.compare_digest(stored.encode("utf-8"), presented.encode("utf-8"))
