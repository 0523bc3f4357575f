"""Online key rotation: re-seal every row under the current key version, batch by batch.

Each batch is its own transaction and rewrites a row's ciphertext, blind indexes and
content fingerprint together, so every row stays readable at every moment (readers
open a row with the version it names and look up indexes under every version in the
keyring). Old versions are retired only once no row still uses them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select, update

from rempart.population import sealing
from rempart.population.models import Beneficiary, Contract, Insurer
from rempart.vault import Vault, VaultError

BATCH_ROWS = 2_000


@dataclass(frozen=True)
class RekeyReport:
    contracts: int
    beneficiaries: int


class KeyRotationIncomplete(VaultError):
    """Rows still use a key version that was asked to be retired."""


class Rekeyer:
    def __init__(self, *, engine: Engine, vault: Vault, batch_rows: int = BATCH_ROWS) -> None:
        self._engine = engine
        self._vault = vault
        self._batch = batch_rows

    def stale_rows(self) -> int:
        """Rows sealed under a version other than the current one."""
        current = self._vault.current_version
        with self._engine.connect() as conn:
            total = 0
            for table in (Contract, Beneficiary):
                total += conn.scalar(
                    select(func.count()).select_from(table).where(table.key_version != current)
                ) or 0
            return total

    def rekey(self, *, on_progress: Callable[[int], None] | None = None) -> RekeyReport:
        contracts = self._rekey_contracts(on_progress)
        beneficiaries = self._rekey_beneficiaries(on_progress)
        return RekeyReport(contracts=contracts, beneficiaries=beneficiaries)

    def _rekey_contracts(self, on_progress: Callable[[int], None] | None) -> int:
        vault, current, done = self._vault, self._vault.current_version, 0
        amc_by_insurer = self._amc_numbers()
        while True:
            with self._engine.begin() as conn:
                rows = conn.execute(
                    select(Contract.id, Contract.insurer_id, Contract.number_idx,
                           Contract.key_version, Contract.sealed, Contract.tier,
                           Contract.start_date, Contract.end_date, Contract.third_party)
                    .where(Contract.key_version != current).order_by(Contract.id)
                    .limit(self._batch)
                ).all()
                if not rows:
                    return done
                updates = []
                for row in rows:
                    number = sealing.open_contract_number(
                        vault, row.sealed, version=row.key_version, number_idx=row.number_idx)
                    number_idx = sealing.contract_index(vault, amc_by_insurer[row.insurer_id],
                                                        number)
                    updates.append({
                        "row_id": row.id,
                        "number_idx": number_idx,
                        "key_version": current,
                        "sealed": sealing.seal_contract_number(vault, number,
                                                               number_idx=number_idx),
                        "content_mac": sealing.contract_content_mac(
                            vault, number=number, tier=row.tier, start_date=row.start_date,
                            end_date=row.end_date, third_party=row.third_party),
                    })
                _bulk_update(conn, Contract, updates)
            done += len(rows)
            if on_progress:
                on_progress(len(rows))

    def _rekey_beneficiaries(self, on_progress: Callable[[int], None] | None) -> int:
        vault, current, done = self._vault, self._vault.current_version, 0
        amc_by_insurer = self._amc_numbers()
        while True:
            with self._engine.begin() as conn:
                rows = conn.execute(
                    select(Beneficiary.id, Beneficiary.insurer_id, Beneficiary.rank,
                           Beneficiary.member_idx, Beneficiary.key_version, Beneficiary.sealed)
                    .where(Beneficiary.key_version != current).order_by(Beneficiary.id)
                    .limit(self._batch)
                ).all()
                if not rows:
                    return done
                updates = []
                for row in rows:
                    person = sealing.open_person(vault, row.sealed, version=row.key_version,
                                                 member_idx=row.member_idx)
                    member_idx = sealing.member_index(vault, amc_by_insurer[row.insurer_id],
                                                      person.member_number)
                    updates.append({
                        "row_id": row.id,
                        "member_idx": member_idx,
                        "identity_idx": sealing.identity_index(vault, person.nir,
                                                               person.birth_date),
                        "key_version": current,
                        "sealed": sealing.seal_person(vault, person, member_idx=member_idx),
                        "content_mac": sealing.beneficiary_content_mac(
                            vault, person, rank=row.rank),
                    })
                _bulk_update(conn, Beneficiary, updates)
            done += len(rows)
            if on_progress:
                on_progress(len(rows))

    def _amc_numbers(self) -> dict[int, str]:
        with self._engine.connect() as conn:
            return {row.id: row.amc_number
                    for row in conn.execute(select(Insurer.id, Insurer.amc_number))}


def _bulk_update(conn: Connection, model: type[Contract] | type[Beneficiary],
                 updates: list[dict[str, object]]) -> None:
    values: dict[str, Any] = {key: bindparam(key) for key in updates[0] if key != "row_id"}
    statement = update(model).where(model.id == bindparam("row_id")).values(values)
    conn.execute(statement, updates)
