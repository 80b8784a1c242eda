"""chain head (#11): organization.head_seq / head_hash, the seq and hash of the organization's last event

trail.append reads and advances the head with one UPDATE of the organization's row (which is also the chain's
lock) instead of locking the row and selecting the last event. Backfilled set-based from each organization's
last event (the unique index (org_id, seq) finds it); an organization without events keeps (0, genesis).

Revision ID: 0018
Revises: 0003
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0018'
down_revision = '0003'
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.add_column(sa.Column('head_seq', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('head_hash', sqlmodel.sql.sqltypes.AutoString(length=64),
                                      server_default=GENESIS, nullable=False))
    op.execute(
        "UPDATE organization SET "
        "head_seq = (SELECT e.seq FROM event e WHERE e.org_id = organization.id ORDER BY e.seq DESC LIMIT 1), "
        "head_hash = (SELECT e.hash FROM event e WHERE e.org_id = organization.id ORDER BY e.seq DESC LIMIT 1) "
        "WHERE EXISTS (SELECT 1 FROM event e WHERE e.org_id = organization.id)")


def downgrade() -> None:
    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.drop_column('head_hash')
        batch_op.drop_column('head_seq')
