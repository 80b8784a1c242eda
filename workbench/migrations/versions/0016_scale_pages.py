"""scale (#11): record_link (record links by index), subject_latest (each subject's latest record, for due
items) and process_tally (records per process), backfilled set-based from the records; to-do indexes on record

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
    op.create_table(
        'subject_latest',
        sa.Column('org_id', sa.Integer(), sa.ForeignKey('organization.id'), nullable=False),
        sa.Column('template_key', sa.String(length=64), nullable=False),
        sa.Column('subject', sa.String(length=220), nullable=False),
        sa.Column('record_id', sa.Integer(), sa.ForeignKey('record.id'), nullable=False),
        sa.Column('rank_date', sa.Date(), nullable=True),
        sa.Column('due_date', sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint('org_id', 'template_key', 'subject'),
    )
    op.create_table(
        'process_tally',
        sa.Column('org_id', sa.Integer(), sa.ForeignKey('organization.id'), nullable=False),
        sa.Column('template_key', sa.String(length=64), nullable=False),
        sa.Column('records', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('org_id', 'template_key'),
    )
    # one INSERT … SELECT each over every record (SQLite json_each/json_extract, PostgreSQL json ->>; a window
    # function for the ranking); the indexes come after, so the backfill does not maintain them row by row
    from workbench import latest, links

    bind = op.get_bind()
    for sql, params in [links.rebuild_sql(bind.dialect.name), *latest.rebuild_sql()]:
        bind.execute(sa.text(sql), params)
    op.create_index('ix_record_link_to', 'record_link', ['org_id', 'to_record_id'], unique=False)
    op.create_index('ix_subject_latest_due', 'subject_latest', ['org_id', 'template_key', 'due_date'], unique=False)
    op.create_index('ix_record_todo', 'record', ['org_id', 'template_key', 'state', 'record_date'], unique=False)
    op.create_index('ix_record_author', 'record', ['org_id', 'created_by', 'template_key', 'state'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_record_author', table_name='record')
    op.drop_index('ix_record_todo', table_name='record')
    op.drop_index('ix_subject_latest_due', table_name='subject_latest')
    op.drop_table('subject_latest')
    op.drop_table('process_tally')
    op.drop_index('ix_record_link_to', table_name='record_link')
    op.drop_table('record_link')
