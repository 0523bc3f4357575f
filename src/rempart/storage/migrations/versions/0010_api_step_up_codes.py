"""auth: api_step_up_codes, the pending answers to the guard's step-up of an API key

An API key the exfiltration guard steps up gets a short code in its 401 answer; a user
of its organisation confirms it on the portal with a fresh second factor
(rempart.auth.api_step_up, docs/guard.md "On the check path"). One row per (client,
key); the code is found through a keyed index and sealed by the vault.

Revision ID: 0010s
Revises: 0009r
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010s"
down_revision: str | Sequence[str] | None = "0009r"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_step_up_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=40), nullable=False),
        sa.Column("jkt", sa.String(length=64), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("code_index", sa.LargeBinary(length=32), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"],
                                name=op.f("fk_api_step_up_codes_organisation_id_organisations")),
        sa.ForeignKeyConstraint(["used_by"], ["accounts.id"],
                                name=op.f("fk_api_step_up_codes_used_by_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_step_up_codes")),
        sa.UniqueConstraint("client_id", "jkt", name=op.f("uq_api_step_up_codes_client_id_jkt")),
    )
    op.create_index(op.f("ix_api_step_up_codes_code_index"), "api_step_up_codes",
                    ["code_index"])
    op.create_index(op.f("ix_api_step_up_codes_expires_at"), "api_step_up_codes",
                    ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_api_step_up_codes_expires_at"), table_name="api_step_up_codes")
    op.drop_index(op.f("ix_api_step_up_codes_code_index"), table_name="api_step_up_codes")
    op.drop_table("api_step_up_codes")
