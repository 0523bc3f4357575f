"""alerts: the listed shared network an alert is about (alerts.network)

The guard watches the operator's listed shared networks (rempart.guard.netwatch) and
raises an alert naming one by its label, about no account. Existing rows are about
accounts, sessions or the clock: NULL is right.

Revision ID: 0015n
Revises: 0014r
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015n"
down_revision: str | Sequence[str] | None = "0014r"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("network", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("network")
