"""tally (#11): record_day_tally, records per organization, template version and day (the coverage matrix), and
triggers on record keeping it and process_tally (SQLite and PostgreSQL: workbench.tallies); backfilled in one
INSERT … SELECT … GROUP BY

Revision ID: 0021
Revises: 0003
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0003'
branch_labels = None
depends_on = '0016'  # the triggers count into process_tally


def upgrade() -> None:
    from workbench import tallies

    op.create_table(
        'record_day_tally',
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('record_date', sa.Date(), nullable=False),
        sa.Column('template_id', sa.Integer(), nullable=False),
        sa.Column('records', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['organization.id']),
        sa.PrimaryKeyConstraint('org_id', 'record_date', 'template_id'),
        sqlite_with_rowid=False,
    )
    conn = op.get_bind()
    tallies.backfill(conn)  # process_tally: filled by migration 0016 and kept by code until now
    tallies.create_triggers(conn)


def downgrade() -> None:
    from workbench import tallies

    tallies.drop_triggers(op.get_bind())
    op.drop_table('record_day_tally')
