"""search (#12): record.search_text, backfilled in one UPDATE, and its substring index (SQLite FTS5 trigram
table record_search kept by triggers; PostgreSQL pg_trgm GIN index when the extension is available)

Revision ID: 0019
Revises: 0003
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0003'
branch_labels = None
depends_on = None

# external content: the text is stored once (record.search_text); the triggers keep the index in step
SQLITE_UP = [
    "CREATE VIRTUAL TABLE record_search USING fts5(search_text, content='record', content_rowid='id', "
    "tokenize='trigram')",
    "CREATE TRIGGER record_search_ai AFTER INSERT ON record BEGIN "
    "INSERT INTO record_search(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER record_search_ad AFTER DELETE ON record BEGIN "
    "INSERT INTO record_search(record_search, rowid, search_text) VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER record_search_au AFTER UPDATE OF search_text ON record BEGIN "
    "INSERT INTO record_search(record_search, rowid, search_text) VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO record_search(rowid, search_text) VALUES (new.id, new.search_text); END",
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS record_search_au", "DROP TRIGGER IF EXISTS record_search_ad",
               "DROP TRIGGER IF EXISTS record_search_ai", "DROP TABLE IF EXISTS record_search"]


def upgrade() -> None:
    from workbench.search import backfill

    conn = op.get_bind()
    op.add_column('record', sa.Column('search_text', sa.Text(), nullable=True))
    backfill(conn)
    if conn.dialect.name == "sqlite":
        for stmt in SQLITE_UP:
            op.execute(stmt)
        op.execute("INSERT INTO record_search(record_search) VALUES ('rebuild')")
    elif conn.dialect.name == "postgresql":
        available = conn.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).first()
        if available:
            try:  # not allowed to create it (not the database owner): no index, LIKE scans the column
                with conn.begin_nested():
                    conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
            except sa.exc.DBAPIError:
                pass
        if conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).first():
            op.execute("CREATE INDEX ix_record_search_trgm ON record USING gin (search_text gin_trgm_ops)")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        for stmt in SQLITE_DOWN:
            op.execute(stmt)
    else:
        op.execute("DROP INDEX IF EXISTS ix_record_search_trgm")
    with op.batch_alter_table('record', schema=None) as batch_op:
        batch_op.drop_column('search_text')
