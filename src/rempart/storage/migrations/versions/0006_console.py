"""console: alerts can be resolved; the alert outbox for webhook delivery

Revision ID: 0006c
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006c"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("resolved_by", sa.BigInteger(), nullable=True))
    op.create_table(
        "alert_outbox",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"],
                                name=op.f("fk_alert_outbox_alert_id_alerts")),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_alert_outbox")),
    )
    op.create_index("ix_alert_outbox_delivered_at_next_attempt_at", "alert_outbox",
                    ["delivered_at", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_alert_outbox_delivered_at_next_attempt_at", table_name="alert_outbox")
    op.drop_table("alert_outbox")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("resolved_by")
        batch_op.drop_column("resolved_at")
