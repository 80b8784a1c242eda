"""Alembic migrations build exactly the schema the models describe (no drift), from an empty database."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from workbench.db import make_engine
from workbench.migrate import upgrade


def _not_the_search_index(name, type_, parent_names) -> bool:
    """The FTS5 table of migration 0019 (and its shadow tables) is SQLite-only, not a model."""
    return not (type_ == "table" and (name or "").startswith("record_search"))


def test_migrations_match_the_models(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        opts = {"compare_type": False, "include_name": _not_the_search_index}
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), SQLModel.metadata)
    assert diff == [], f"models and migrations differ; write a migration: {diff}"
    upgrade(engine)  # idempotent
