"""guard: the memory-mode guard's saved state (profiles and containments) survives a restart

One row per account profile and per contained session (rempart.guard.persist): the
profile's or session's codec JSON, its format version, and whether it is contained,
kept beside the body so that a body that cannot be read still errs on contained.

Revision ID: 0011g
Revises: 0010s
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011g"
down_revision: str | Sequence[str] | None = "0010s"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "guard_state",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.String(length=200), nullable=False),
        sa.Column("contained", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("last", sa.Float(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", name=op.f("pk_guard_state")),
    )


def downgrade() -> None:
    op.drop_table("guard_state")
