"""trail anchoring: event hash scheme, audit seals, gapless finding numbers

- event.scheme: the canonical JSON an event's hash uses. Existing events are scheme 1 (Python json.dumps,
  sorted keys) and keep verifying as such — nothing is rehashed; new events are written with scheme 2
  (RFC 8785 JCS). See workbench/trail.py.
- audit_seal: chain heads sealed when an engagement opens and when its report is issued.
- audit_engagement.finding_counter + UNIQUE(audit_finding.engagement_id, number): finding numbers are
  unique and gapless per engagement. Duplicates left by the earlier race are renumbered here (the first
  finding keeps its number, later duplicates take the next free numbers in id order); `workbench trail
  verify` then reports those findings as differing from their chained digest, which is what happened.

Revision ID: 0005
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0005'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scheme', sa.Integer(), server_default='1', nullable=False))
    with op.batch_alter_table('audit_engagement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('finding_counter', sa.Integer(), server_default='0', nullable=False))

    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, engagement_id, number FROM audit_finding ORDER BY engagement_id, id")).all()
    taken: dict[int, set[int]] = {}
    for _id, eid, number in rows:
        taken.setdefault(eid, set()).add(number)
    seen: dict[int, set[int]] = {}
    for fid, eid, number in rows:
        if number in seen.setdefault(eid, set()):
            number = max(taken[eid]) + 1
            taken[eid].add(number)
            conn.execute(sa.text("UPDATE audit_finding SET number = :n WHERE id = :i"), {"n": number, "i": fid})
        seen[eid].add(number)
    for eid, numbers in taken.items():
        conn.execute(sa.text("UPDATE audit_engagement SET finding_counter = :n WHERE id = :i"), {"n": max(numbers), "i": eid})
    with op.batch_alter_table('audit_finding', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_audit_finding_engagement_id_number', ['engagement_id', 'number'])

    op.create_table('audit_seal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('engagement_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('scheme', sa.Integer(), nullable=False),
    sa.Column('previous_seal_id', sa.Integer(), nullable=True),
    sa.Column('extends', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('sealed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('sealed_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['engagement_id'], ['audit_engagement.id'], ),
    sa.ForeignKeyConstraint(['org_id'], ['organization.id'], ),
    sa.ForeignKeyConstraint(['previous_seal_id'], ['audit_seal.id'], ),
    sa.ForeignKeyConstraint(['sealed_by'], ['user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_seal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_seal_engagement_id'), ['engagement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_seal_org_id'), ['org_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_seal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_seal_org_id'))
        batch_op.drop_index(batch_op.f('ix_audit_seal_engagement_id'))
    op.drop_table('audit_seal')
    with op.batch_alter_table('audit_finding', schema=None) as batch_op:
        batch_op.drop_constraint('uq_audit_finding_engagement_id_number', type_='unique')
    with op.batch_alter_table('audit_engagement', schema=None) as batch_op:
        batch_op.drop_column('finding_counter')
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_column('scheme')
