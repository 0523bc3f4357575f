"""Before writing anything: is this the keyring that sealed the rows already stored?

Importing with the wrong key file would seal new rows under keys that cannot open the
old ones and compute blind indexes that match nothing, silently duplicating every
person. One stored contract and one stored beneficiary are opened first instead.
"""

from __future__ import annotations

from sqlalchemy import Engine, select

from rempart.ingest.errors import KeyringMismatch, RotationInProgress
from rempart.population.models import Beneficiary, Contract
from rempart.population.sealing import open_contract_number, open_person
from rempart.vault import Vault, VaultError


def check_keyring(engine: Engine, vault: Vault) -> None:
    with engine.connect() as conn:
        contract = conn.execute(
            select(Contract.number_idx, Contract.sealed, Contract.key_version)
            .order_by(Contract.id.desc()).limit(1)).first()
        person = conn.execute(
            select(Beneficiary.member_idx, Beneficiary.sealed, Beneficiary.key_version)
            .order_by(Beneficiary.id.desc()).limit(1)).first()
        try:
            if contract is not None:
                open_contract_number(vault, contract.sealed, version=contract.key_version,
                                     number_idx=contract.number_idx)
            if person is not None:
                open_person(vault, person.sealed, version=person.key_version,
                            member_idx=person.member_idx)
        except VaultError:
            raise KeyringMismatch(
                "the keyring cannot open the rows already stored: wrong key file or "
                "REMPART_KEYRING for this database; nothing was imported") from None
        if len(vault.keyring.versions) > 1:
            current = vault.current_version
            stale = conn.scalar(select(Beneficiary.id).where(Beneficiary.key_version != current)
                                .limit(1)) or conn.scalar(
                select(Contract.id).where(Contract.key_version != current).limit(1))
            if stale is not None:
                raise RotationInProgress(
                    "rows are still sealed under an older key version: finish "
                    "`rempart keys rotate` before importing; nothing was imported")
