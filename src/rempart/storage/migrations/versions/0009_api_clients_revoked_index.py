"""auth: a partial index on api_clients.revoked_at, for the revocation poll

Every API worker asks every ApiClientService.ACTIVE_SECONDS (2 s) which clients were
revoked lately (`revoked_at >= since`, one query for all clients). Without an index that
read every registered client's row (20,000 in the bench). Only revoked clients are in
this index (`WHERE revoked_at IS NOT NULL`): registering a client writes nothing to it,
and the poll reads the few revoked since its last one. Both SQLite and PostgreSQL infer
that `revoked_at >= :since` implies the index's condition. docs/performance.md has the
plans and the poll's cost before and after.

Revision ID: 0009r
Revises: 0008f
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009r"
down_revision: str | Sequence[str] | None = "0008f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REVOKED = sa.text("revoked_at IS NOT NULL")


def upgrade() -> None:
    op.create_index("ix_api_clients_revoked_at", "api_clients", ["revoked_at"],
                    sqlite_where=REVOKED, postgresql_where=REVOKED)


def downgrade() -> None:
    op.drop_index("ix_api_clients_revoked_at", table_name="api_clients")
