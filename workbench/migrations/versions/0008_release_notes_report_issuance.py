"""studio and audit report: release notes of published template versions; audit report revisions and the
audit team's signatures

Revision ID: 0008
Revises: 0003
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0008'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('engagement_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('recommendation', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('statement', sa.Text(), nullable=False),
    sa.Column('issue_date', sa.Date(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('content_html', sa.Text(), nullable=False),
    sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('issued_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('issued_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], ),
    sa.ForeignKeyConstraint(['engagement_id'], ['audit_engagement.id'], ),
    sa.ForeignKeyConstraint(['issued_by'], ['user.id'], ),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('engagement_id', 'revision')
    )
    with op.batch_alter_table('audit_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_report_engagement_id'), ['engagement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_report_org_id'), ['org_id'], unique=False)

    op.create_table('template_release',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('impact', sa.JSON(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user.id'], ),
    sa.ForeignKeyConstraint(['template_id'], ['process_template.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('template_release', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_template_release_template_id'), ['template_id'], unique=True)

    op.create_table('audit_report_signature',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('meaning', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('signed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['audit_report.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('report_id', 'user_id')
    )
    with op.batch_alter_table('audit_report_signature', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_report_signature_report_id'), ['report_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_report_signature', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_report_signature_report_id'))

    op.drop_table('audit_report_signature')
    with op.batch_alter_table('template_release', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_template_release_template_id'))

    op.drop_table('template_release')
    with op.batch_alter_table('audit_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_report_org_id'))
        batch_op.drop_index(batch_op.f('ix_audit_report_engagement_id'))

    op.drop_table('audit_report')
