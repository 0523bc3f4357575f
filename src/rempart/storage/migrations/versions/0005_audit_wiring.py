"""audit wiring: merge the heads; the audit log replaces the disclosures table; scoping
indexes; alerts; insurers' link keys and member sessions

Revision ID: 0005
Revises: 0002, 0003, 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = ("0002", "0003", "0004")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every disclosure is an audit entry now (rempart.audit.recorder): the plain table goes.
    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.drop_index("ix_disclosures_session_id")
        batch_op.drop_index("ix_disclosures_person_id")
    op.drop_table("disclosures")

    # Breach scoping reads an account's or a session's entries within a window.
    op.drop_index("ix_audit_entries_account_id", table_name="audit_entries")
    op.drop_index("ix_audit_entries_session_id", table_name="audit_entries")
    op.create_index("ix_audit_entries_account_id_occurred_at_us", "audit_entries",
                    ["account_id", "occurred_at_us"])
    op.create_index("ix_audit_entries_session_id_occurred_at_us", "audit_entries",
                    ["session_id", "occurred_at_us"])

    # A person's own history of checks.
    op.create_index("ix_checks_beneficiary_id", "checks", ["beneficiary_id"])

    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=True),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("organisation_id", sa.String(length=64), nullable=True),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("check_reference", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index("ix_alerts_account_id_created_at", "alerts", ["account_id", "created_at"])
    op.create_index("ix_alerts_session_id_created_at", "alerts", ["session_id", "created_at"])
    op.create_index("ix_alerts_check_reference", "alerts", ["check_reference"])

    op.create_table(
        "insurer_link_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("insurer_id", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["insurer_id"], ["insurers.id"],
                                name=op.f("fk_insurer_link_keys_insurer_id_insurers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insurer_link_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_insurer_link_keys_key_id")),
    )
    op.create_index("ix_insurer_link_keys_insurer_id", "insurer_link_keys", ["insurer_id"])

    op.create_table(
        "member_sessions",
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("insurer_amc", sa.String(length=10), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_member_sessions")),
    )
    op.create_index("ix_member_sessions_expires_at", "member_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_member_sessions_expires_at", table_name="member_sessions")
    op.drop_table("member_sessions")
    op.drop_index("ix_insurer_link_keys_insurer_id", table_name="insurer_link_keys")
    op.drop_table("insurer_link_keys")
    for name in ("ix_alerts_check_reference", "ix_alerts_session_id_created_at",
                 "ix_alerts_account_id_created_at"):
        op.drop_index(name, table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_checks_beneficiary_id", table_name="checks")
    op.drop_index("ix_audit_entries_session_id_occurred_at_us", table_name="audit_entries")
    op.drop_index("ix_audit_entries_account_id_occurred_at_us", table_name="audit_entries")
    op.create_index("ix_audit_entries_session_id", "audit_entries", ["session_id"])
    op.create_index("ix_audit_entries_account_id", "audit_entries", ["account_id"])
    op.create_table(
        "disclosures",
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosures")),
    )
    op.create_index("ix_disclosures_person_id", "disclosures", ["person_id"])
    op.create_index("ix_disclosures_session_id", "disclosures", ["session_id"])
