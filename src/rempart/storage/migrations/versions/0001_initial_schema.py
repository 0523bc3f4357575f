"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-30 13:24:48.390265
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('applied_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.LargeBinary(length=32), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('mode', sa.String(length=10), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_applied_files')),
    sa.UniqueConstraint('sha256', name=op.f('uq_applied_files_sha256'))
    )
    op.create_table('insurers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('amc_number', sa.String(length=10), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_insurers')),
    sa.UniqueConstraint('amc_number', name=op.f('uq_insurers_amc_number'))
    )
    op.create_table('organisations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('siret', sa.String(length=14), nullable=False),
    sa.Column('finess', sa.String(length=9), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('profession', sa.String(length=20), nullable=False),
    sa.Column('postcode', sa.String(length=5), nullable=False),
    sa.Column('departement', sa.String(length=3), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisations')),
    sa.UniqueConstraint('finess', name=op.f('uq_organisations_finess')),
    sa.UniqueConstraint('siret', name=op.f('uq_organisations_siret'))
    )
    op.create_table('contracts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('insurer_id', sa.Integer(), nullable=False),
    sa.Column('number_idx', sa.LargeBinary(length=16), nullable=False),
    sa.Column('key_version', sa.SmallInteger(), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=False),
    sa.Column('content_mac', sa.LargeBinary(length=16), nullable=False),
    sa.Column('tier', sa.String(length=40), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('third_party', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['insurer_id'], ['insurers.id'], name=op.f('fk_contracts_insurer_id_insurers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contracts')),
    sa.UniqueConstraint('insurer_id', 'number_idx', name=op.f('uq_contracts_insurer_id_number_idx'))
    )
    op.create_table('guarantees',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('insurer_id', sa.Integer(), nullable=False),
    sa.Column('tier', sa.String(length=40), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('rate_bp', sa.Integer(), nullable=True),
    sa.Column('amount_cents', sa.Integer(), nullable=True),
    sa.Column('allowance_cents', sa.Integer(), nullable=True),
    sa.Column('period_months', sa.SmallInteger(), nullable=True),
    sa.Column('third_party', sa.Boolean(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['insurer_id'], ['insurers.id'], name=op.f('fk_guarantees_insurer_id_insurers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guarantees')),
    sa.UniqueConstraint('insurer_id', 'tier', 'category', 'valid_from', name=op.f('uq_guarantees_insurer_id_tier_category_valid_from'))
    )
    op.create_table('professionals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rpps', sa.String(length=11), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('profession', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_professionals_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_professionals')),
    sa.UniqueConstraint('rpps', name=op.f('uq_professionals_rpps'))
    )
    with op.batch_alter_table('professionals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_professionals_organisation_id'), ['organisation_id'], unique=False)

    op.create_table('beneficiaries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('insurer_id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('rank', sa.SmallInteger(), nullable=False),
    sa.Column('member_idx', sa.LargeBinary(length=16), nullable=False),
    sa.Column('identity_idx', sa.LargeBinary(length=16), nullable=False),
    sa.Column('key_version', sa.SmallInteger(), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=False),
    sa.Column('content_mac', sa.LargeBinary(length=16), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'], name=op.f('fk_beneficiaries_contract_id_contracts')),
    sa.ForeignKeyConstraint(['insurer_id'], ['insurers.id'], name=op.f('fk_beneficiaries_insurer_id_insurers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_beneficiaries')),
    sa.UniqueConstraint('insurer_id', 'member_idx', name=op.f('uq_beneficiaries_insurer_id_member_idx'))
    )
    with op.batch_alter_table('beneficiaries', schema=None) as batch_op:
        batch_op.create_index('ix_beneficiaries_contract_id', ['contract_id'], unique=False)
        batch_op.create_index('ix_beneficiaries_identity_idx', ['identity_idx'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('beneficiaries', schema=None) as batch_op:
        batch_op.drop_index('ix_beneficiaries_identity_idx')
        batch_op.drop_index('ix_beneficiaries_contract_id')

    op.drop_table('beneficiaries')
    with op.batch_alter_table('professionals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_professionals_organisation_id'))

    op.drop_table('professionals')
    op.drop_table('guarantees')
    op.drop_table('contracts')
    op.drop_table('organisations')
    op.drop_table('insurers')
    op.drop_table('applied_files')
