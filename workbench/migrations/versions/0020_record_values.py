"""sortkeys (#12): record_value, each record's top-level scalar field values, indexed for list sorting and
filtering by a template field; backfilled in two INSERT … SELECT statements (workbench.record_values.backfill)

Revision ID: 0020
Revises: 0003
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from workbench.record_values import backfill

    op.create_table(
        'record_value',
        sa.Column('record_id', sa.Integer(), nullable=False),
        sa.Column('field', sa.String(length=200), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('template_key', sa.String(length=64), nullable=False),
        sa.Column('vtext', sa.Text(), nullable=True),
        sa.Column('vnum', sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(['org_id'], ['organization.id']),
        sa.PrimaryKeyConstraint('record_id', 'field'),
        sqlite_with_rowid=False,  # the primary key holds the row: checking one record's value is one look-up
    )
    backfill(op.get_bind())  # before the index: one sort of the rows, not a million index insertions
    op.create_index('ix_record_value', 'record_value',
                    ['org_id', 'template_key', 'field', 'vnum', 'vtext', 'record_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_record_value', table_name='record_value')
    op.drop_table('record_value')
