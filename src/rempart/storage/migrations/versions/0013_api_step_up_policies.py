"""auth: api_step_up_policies, who of an organisation may confirm an API key's step-up

An organisation admin chooses who may confirm the code that releases a practice
software's key the guard stepped up (rempart.auth.api_step_up_policy): its admins
only, or any user of the organisation. No row means admins only: existing and new
organisations get that default without a row written here (docs/guard.md says why).

Revision ID: 0013p
Revises: 0012a
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013p"
down_revision: str | Sequence[str] | None = "0012a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_step_up_policies",
        sa.Column("organisation_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("approvers", sa.String(length=12), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["changed_by"], ["accounts.id"],
                                name=op.f("fk_api_step_up_policies_changed_by_accounts")),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"],
            name=op.f("fk_api_step_up_policies_organisation_id_organisations")),
        sa.PrimaryKeyConstraint("organisation_id", name=op.f("pk_api_step_up_policies")),
    )


def downgrade() -> None:
    op.drop_table("api_step_up_policies")
