"""Alembic migrations build exactly the schema the models describe (no drift), from an empty database."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from workbench.db import make_engine
from workbench.migrate import upgrade


def test_migrations_match_the_models(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), SQLModel.metadata)
    assert diff == [], f"models and migrations differ; write a migration: {diff}"
    upgrade(engine)  # idempotent
