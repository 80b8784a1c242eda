"""studio drafts (consultant studio: org-owned drafts and consultants' personal libraries)

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('studio_draft',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=True),
    sa.Column('owner_user_id', sa.Integer(), nullable=True),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('base_template_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['base_template_id'], ['process_template.id'], ),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], ),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], ),
    sa.ForeignKeyConstraint(['owner_user_id'], ['user.id'], ),
    sa.ForeignKeyConstraint(['updated_by'], ['user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('org_id', 'key'),
    sa.UniqueConstraint('owner_user_id', 'key')
    )
    with op.batch_alter_table('studio_draft', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_studio_draft_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_studio_draft_owner_user_id'), ['owner_user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('studio_draft', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_studio_draft_owner_user_id'))
        batch_op.drop_index(batch_op.f('ix_studio_draft_org_id'))
    op.drop_table('studio_draft')
