"""population: one foreign key from a beneficiary to its contract and the contract's insurer

A beneficiary referenced its insurer and its contract through two foreign keys, so
PostgreSQL ran two referential triggers per imported person (about 6 µs of server CPU
each, docs/scale.md). One composite key, (contract_id, insurer_id) to contracts (id,
insurer_id), is one trigger and says more: the beneficiary's contract exists, belongs
to the same insurer, and (through the contract's own key) that insurer exists.

Revision ID: 0008f
Revises: 0007w
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008f"
down_revision: str | Sequence[str] | None = "0007w"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A unique index, not a table constraint: SQLite adds it in place, where a constraint
    # would rebuild the table (and dropping the old one trips the beneficiaries' key).
    op.create_index("uq_contracts_id_insurer_id", "contracts", ["id", "insurer_id"],
                    unique=True)
    with op.batch_alter_table("beneficiaries") as batch_op:
        batch_op.drop_constraint("fk_beneficiaries_insurer_id_insurers", type_="foreignkey")
        batch_op.drop_constraint("fk_beneficiaries_contract_id_contracts", type_="foreignkey")
        batch_op.create_foreign_key("fk_beneficiaries_contract_id_contracts", "contracts",
                                    ["contract_id", "insurer_id"], ["id", "insurer_id"])


def downgrade() -> None:
    with op.batch_alter_table("beneficiaries") as batch_op:
        batch_op.drop_constraint("fk_beneficiaries_contract_id_contracts", type_="foreignkey")
        batch_op.create_foreign_key("fk_beneficiaries_contract_id_contracts", "contracts",
                                    ["contract_id"], ["id"])
        batch_op.create_foreign_key("fk_beneficiaries_insurer_id_insurers", "insurers",
                                    ["insurer_id"], ["id"])
    op.drop_index("uq_contracts_id_insurer_id", table_name="contracts")
