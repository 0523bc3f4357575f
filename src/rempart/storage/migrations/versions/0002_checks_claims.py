"""coverage checks, claims and the disclosure record

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("disclosures",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("event", sa.String(length=40), nullable=False),
    sa.Column("account_id", sa.Integer(), nullable=True),
    sa.Column("organisation_id", sa.Integer(), nullable=False),
    sa.Column("professional_id", sa.Integer(), nullable=True),
    sa.Column("session_id", sa.String(length=64), nullable=True),
    sa.Column("client_address", sa.String(length=64), nullable=True),
    sa.Column("device_id", sa.String(length=64), nullable=True),
    sa.Column("person_id", sa.Integer(), nullable=True),
    sa.Column("fields", sa.String(length=400), nullable=False),
    sa.Column("reference", sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosures"))
    )
    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.create_index("ix_disclosures_person_id", ["person_id"], unique=False)
        batch_op.create_index("ix_disclosures_session_id", ["session_id"], unique=False)

    op.create_table("checks",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("reference", sa.String(length=32), nullable=False),
    sa.Column("organisation_id", sa.Integer(), nullable=False),
    sa.Column("account_id", sa.Integer(), nullable=True),
    sa.Column("professional_id", sa.Integer(), nullable=True),
    sa.Column("beneficiary_id", sa.Integer(), nullable=True),
    sa.Column("guarantee_id", sa.Integer(), nullable=True),
    sa.Column("category", sa.String(length=20), nullable=False),
    sa.Column("care_date", sa.Date(), nullable=False),
    sa.Column("outcome", sa.String(length=24), nullable=False),
    sa.Column("covered", sa.Boolean(), nullable=False),
    sa.Column("third_party", sa.Boolean(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"], name=op.f("fk_checks_organisation_id_organisations")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_checks")),
    sa.UniqueConstraint("reference", name=op.f("uq_checks_reference"))
    )
    with op.batch_alter_table("checks", schema=None) as batch_op:
        batch_op.create_index("ix_checks_organisation_id_id", ["organisation_id", "id"], unique=False)

    op.create_table("claims",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("reference", sa.String(length=32), nullable=False),
    sa.Column("check_id", sa.Integer(), nullable=False),
    sa.Column("organisation_id", sa.Integer(), nullable=False),
    sa.Column("account_id", sa.Integer(), nullable=True),
    sa.Column("beneficiary_id", sa.Integer(), nullable=True),
    sa.Column("category", sa.String(length=20), nullable=False),
    sa.Column("care_date", sa.Date(), nullable=False),
    sa.Column("billed_cents", sa.Integer(), nullable=False),
    sa.Column("base_tariff_cents", sa.Integer(), nullable=False),
    sa.Column("amo_rate_bp", sa.Integer(), nullable=False),
    sa.Column("amo_cents", sa.Integer(), nullable=False),
    sa.Column("amc_cents", sa.Integer(), nullable=False),
    sa.Column("patient_cents", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(length=10), nullable=False),
    sa.Column("reason", sa.String(length=40), nullable=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(["check_id"], ["checks.id"], name=op.f("fk_claims_check_id_checks")),
    sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"], name=op.f("fk_claims_organisation_id_organisations")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_claims")),
    sa.UniqueConstraint("reference", name=op.f("uq_claims_reference"))
    )
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.create_index("ix_claims_beneficiary_id_category_care_date", ["beneficiary_id", "category", "care_date"], unique=False)
        batch_op.create_index("ix_claims_check_id", ["check_id"], unique=False)
        batch_op.create_index("ix_claims_organisation_id_id", ["organisation_id", "id"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_index("ix_claims_organisation_id_id")
        batch_op.drop_index("ix_claims_check_id")
        batch_op.drop_index("ix_claims_beneficiary_id_category_care_date")

    op.drop_table("claims")
    with op.batch_alter_table("checks", schema=None) as batch_op:
        batch_op.drop_index("ix_checks_organisation_id_id")

    op.drop_table("checks")
    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.drop_index("ix_disclosures_session_id")
        batch_op.drop_index("ix_disclosures_person_id")

    op.drop_table("disclosures")
