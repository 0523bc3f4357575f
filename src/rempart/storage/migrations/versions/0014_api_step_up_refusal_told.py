"""auth: api_step_up_codes.refusal_told_at, one notice to the admins per refused code

When someone the organisation's choice does not let confirm (a plain user where only
admins may) types a right step-up code, the organisation's admins are told once per
code (rempart.auth.api_release_notices); the column records that it was done.
Existing rows are pending or spent codes of the last day: none was told, NULL is right.

Revision ID: 0014r
Revises: 0013p
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014r"
down_revision: str | Sequence[str] | None = "0013p"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_step_up_codes") as batch:
        batch.add_column(sa.Column("refusal_told_at", sa.DateTime(timezone=True),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_step_up_codes") as batch:
        batch.drop_column("refusal_told_at")
