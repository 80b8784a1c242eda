"""event.origin: the original ids an imported event's hash covers (organization archive restore)

Revision ID: 0014
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('event') as batch:
        batch.add_column(sa.Column('origin', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('event') as batch:
        batch.drop_column('origin')
