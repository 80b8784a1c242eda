"""scale (#11): sample frames stored in compressed chunks (algorithm 2) instead of an id list in JSON; a
covering index for coverage counts and sample frames

Revision ID: 0017
Revises: 0003
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op


revision = '0017'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_sample', schema=None) as batch_op:
        batch_op.add_column(sa.Column('frame_digest', sa.String(length=64), nullable=True))
    op.create_table(
        'audit_sample_frame',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sample_id', sa.Integer(), nullable=False),
        sa.Column('chunk', sa.Integer(), nullable=False),
        sa.Column('first', sa.Integer(), nullable=False),
        sa.Column('lines', sa.Integer(), nullable=False),
        sa.Column('offsets', sa.JSON(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['sample_id'], ['audit_sample.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('sample_id', 'chunk'),
    )
    with op.batch_alter_table('audit_sample_frame', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_sample_frame_sample_id'), ['sample_id'], unique=False)
    op.create_index('ix_record_frame', 'record', ['org_id', 'record_date', 'template_id', 'template_key', 'state', 'id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_record_frame', table_name='record')
    with op.batch_alter_table('audit_sample_frame', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_sample_frame_sample_id'))
    op.drop_table('audit_sample_frame')
    with op.batch_alter_table('audit_sample', schema=None) as batch_op:
        batch_op.drop_column('frame_digest')
