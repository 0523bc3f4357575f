"""Matching what the provider presents against a sealed beneficiary row.

The look-up narrows by two blind indexes (identity: NIR + date of birth; member: AMC +
member number), so at most one row comes back. Then the row is opened and every
presented field is compared with the sealed one, without short-circuit. When no row
comes back, a dummy row is opened and compared all the same: a miss costs what a hit
costs, so timing does not tell an unknown person from a known one.

The comparison is one constant-time comparison of the compared fields joined by the
vault's field separator, which no sealed or validated field contains: equal joins mean
equal fields, and no field's result can end the comparison early. The sealed fields are
compared as they were sealed (`PersonFields.as_strings`: ISO date, the rank in decimal),
without building a `PersonFields` first.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import os

from rempart.coverage.check_store import Candidate
from rempart.coverage.query import CheckQuery
from rempart.population.sealing import (
    BIRTH_DATE_AT,
    BIRTH_RANK_AT,
    DEPARTEMENT_AT,
    MEMBER_NUMBER_AT,
    NIR_AT,
    PERSON_KIND,
    PersonFields,
    identity_candidates,
    member_index,
    normalise_member_number,
    seal_person,
)
from rempart.vault import TamperedCiphertext, Vault
from rempart.vault.vault import FIELD_SEPARATOR

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
        presented = _presented(query)
        if not candidates:
            _same(self._open_dummy(), "-", presented)
            return None, None
        found, place = None, None
        for candidate in candidates:
            fields = self._open(candidate)
            if fields is not None and _same(fields, candidate.amc_number, presented):
                found, place = candidate, fields[DEPARTEMENT_AT]
        return found, place

    def _open(self, candidate: Candidate) -> list[str] | None:
        """The candidate's sealed person fields (as `PersonFields.as_strings` wrote them)."""
        try:
            return self._vault.open(candidate.sealed, version=candidate.key_version,
                                    kind=PERSON_KIND, row_token=candidate.member_idx)
        except TamperedCiphertext:
            # An integrity incident, not an answer: the caller gets a plain negative.
            log.warning("sealed beneficiary row failed authentication",
                        extra={"beneficiary_id": candidate.beneficiary_id})
            return None

    def _open_dummy(self) -> list[str]:
        return self._vault.open(self._dummy_blob, version=self._dummy_version,
                                kind=PERSON_KIND, row_token=self._dummy_idx)


def _presented(query: CheckQuery) -> bytes:
    return FIELD_SEPARATOR.join((query.nir, query.birth_date.isoformat(),
                                 str(query.birth_rank), query.member_number,
                                 query.amc_number)).encode("utf-8")


def _same(fields: list[str], amc_number: str, presented: bytes) -> bool:
    """Whether the sealed fields and the row's AMC number are those presented: one
    constant-time comparison of all of them together."""
    stored = FIELD_SEPARATOR.join((fields[NIR_AT], fields[BIRTH_DATE_AT],
                                   fields[BIRTH_RANK_AT],
                                   normalise_member_number(fields[MEMBER_NUMBER_AT]),
                                   amc_number))
    return hmac.compare_digest(stored.encode("utf-8"), presented)
