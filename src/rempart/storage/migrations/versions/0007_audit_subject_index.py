"""audit: drop the index on audit_entries.subject_id, which no query reads

Every covered check's entry wrote a page of that random-keyed index at its commit. Breach
scoping reads entries by account, session or time (their own indexes); a person's own
history reads the checks table; verification and archiving read by position.

Revision ID: 0007w
Revises: 0006c
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007w"
down_revision: str | Sequence[str] | None = "0006c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_audit_entries_subject_id", table_name="audit_entries")


def downgrade() -> None:
    op.create_index("ix_audit_entries_subject_id", "audit_entries", ["subject_id"])
