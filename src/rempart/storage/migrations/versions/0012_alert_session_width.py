"""alerts: session_id wide enough for an API key's guard session

An API key's guard session is `api:<client id>|jkt:<RFC 7638 thumbprint>` (86
characters), wider than the 64 the column had: on PostgreSQL every alert about an API
key failed to store, and the alert sink, which retries its pending alerts together,
then stored no guard alert at all. SQLite does not enforce the width.

Revision ID: 0012a
Revises: 0011g
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012a"
down_revision: str | Sequence[str] | None = "0011g"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.alter_column("session_id", type_=sa.String(160),
                           existing_type=sa.String(64), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.alter_column("session_id", type_=sa.String(64),
                           existing_type=sa.String(160), existing_nullable=True)
