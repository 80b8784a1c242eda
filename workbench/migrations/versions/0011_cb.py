"""cb: certificates, client grants, digest log; organization kind and registry facts; engagement slot and audit time

Revision ID: 0011
Revises: 0003
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0011'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cb_certificate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('cb_org_id', sa.Integer(), nullable=True),
    sa.Column('standard', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('number', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('sites', sa.JSON(), nullable=False),
    sa.Column('decision_date', sa.Date(), nullable=False),
    sa.Column('issue_date', sa.Date(), nullable=False),
    sa.Column('expiry_date', sa.Date(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('headcount', sa.Integer(), nullable=True),
    sa.Column('scope_processes', sa.JSON(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['cb_org_id'], ['organization.id'], ),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('cb_org_id', 'number')
    )
    op.create_index(op.f('ix_cb_certificate_cb_org_id'), 'cb_certificate', ['cb_org_id'], unique=False)
    op.create_index(op.f('ix_cb_certificate_org_id'), 'cb_certificate', ['org_id'], unique=False)
    op.create_table('cb_grant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_org_id', sa.Integer(), nullable=False),
    sa.Column('cb_org_id', sa.Integer(), nullable=False),
    sa.Column('granted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('granted_by', sa.Integer(), nullable=True),
    sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('revoked_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['cb_org_id'], ['organization.id'], ),
    sa.ForeignKeyConstraint(['client_org_id'], ['organization.id'], ),
    sa.ForeignKeyConstraint(['granted_by'], ['user.id'], ),
    sa.ForeignKeyConstraint(['revoked_by'], ['user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_cb_grant_cb_org_id'), 'cb_grant', ['cb_org_id'], unique=False)
    op.create_index(op.f('ix_cb_grant_client_org_id'), 'cb_grant', ['client_org_id'], unique=False)
    op.create_table('cb_digest_sent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cb_org_id', sa.Integer(), nullable=False),
    sa.Column('client_org_id', sa.Integer(), nullable=False),
    sa.Column('anomaly_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['cb_org_id'], ['organization.id'], ),
    sa.ForeignKeyConstraint(['client_org_id'], ['organization.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('cb_org_id', 'client_org_id', 'anomaly_key')
    )
    op.create_index(op.f('ix_cb_digest_sent_cb_org_id'), 'cb_digest_sent', ['cb_org_id'], unique=False)
    with op.batch_alter_table('organization') as b:
        b.add_column(sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default='client'))
        b.add_column(sa.Column('credit_code', sqlmodel.sql.sqltypes.AutoString(length=18), nullable=True))
        b.add_column(sa.Column('discharge_permit_no', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        b.add_column(sa.Column('discharge_permit_expiry', sa.Date(), nullable=True))
    with op.batch_alter_table('audit_engagement') as b:
        b.add_column(sa.Column('programme_slot', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))
        b.add_column(sa.Column('certificate_id', sa.Integer(), nullable=True))
        b.add_column(sa.Column('audit_time', sa.JSON(), nullable=False, server_default='{}'))


def downgrade() -> None:
    with op.batch_alter_table('audit_engagement') as b:
        b.drop_column('audit_time')
        b.drop_column('certificate_id')
        b.drop_column('programme_slot')
    with op.batch_alter_table('organization') as b:
        b.drop_column('discharge_permit_expiry')
        b.drop_column('discharge_permit_no')
        b.drop_column('credit_code')
        b.drop_column('kind')
    op.drop_index(op.f('ix_cb_digest_sent_cb_org_id'), table_name='cb_digest_sent')
    op.drop_table('cb_digest_sent')
    op.drop_index(op.f('ix_cb_grant_client_org_id'), table_name='cb_grant')
    op.drop_index(op.f('ix_cb_grant_cb_org_id'), table_name='cb_grant')
    op.drop_table('cb_grant')
    op.drop_index(op.f('ix_cb_certificate_org_id'), table_name='cb_certificate')
    op.drop_index(op.f('ix_cb_certificate_cb_org_id'), table_name='cb_certificate')
    op.drop_table('cb_certificate')
