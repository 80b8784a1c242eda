"""scale (#11): a record's events in chain order by index (org_id, record_id, seq)

Revision ID: 0015
Revises: 0003
Create Date: 2026-12-02
"""
from alembic import op


revision = '0015'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.create_index('ix_event_record', ['org_id', 'record_id', 'seq'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_index('ix_event_record')
