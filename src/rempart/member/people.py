"""Finding the person a verified link names: the insurer and the member number's blind
index (under every key version still readable, so links work during a key rotation)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from rempart.population.models import Beneficiary, Insurer
from rempart.population.sealing import member_index
from rempart.vault import Vault


def resolve_member(conn: Connection, vault: Vault, *, amc: str, member_number: str) -> int | None:
    """The internal id of the insurer's beneficiary with this member number, or None."""
    indexes = [member_index(vault, amc, member_number, version=version)
               for version in vault.keyring.versions]
    found = conn.execute(select(Beneficiary.id)
                         .join(Insurer, Insurer.id == Beneficiary.insurer_id)
                         .where(Insurer.amc_number == amc, Beneficiary.member_idx.in_(indexes))
                         .limit(1)).scalar_one_or_none()
    return int(found) if found is not None else None
