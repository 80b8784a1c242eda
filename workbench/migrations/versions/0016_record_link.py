"""record_link (#11): record links in an indexed table, backfilled set-based from the records' data

Revision ID: 0016
Revises: 0003
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'record_link',
        sa.Column('from_record_id', sa.Integer(), sa.ForeignKey('record.id'), nullable=False),
        sa.Column('field', sa.String(length=200), nullable=False),
        sa.Column('org_id', sa.Integer(), sa.ForeignKey('organization.id'), nullable=False),
        sa.Column('to_record_id', sa.Integer(), sa.ForeignKey('record.id'), nullable=False),
        sa.PrimaryKeyConstraint('from_record_id', 'field'),
    )
    # one INSERT … SELECT over every record (SQLite json_each/json_extract, PostgreSQL json ->>); the index
    # comes after, so the backfill does not maintain it row by row
    from workbench.links import rebuild_sql

    bind = op.get_bind()
    sql, params = rebuild_sql(bind.dialect.name)
    bind.execute(sa.text(sql), params)
    op.create_index('ix_record_link_to', 'record_link', ['org_id', 'to_record_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_record_link_to', table_name='record_link')
    op.drop_table('record_link')
