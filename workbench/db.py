"""Database engine and sessions. SQLite (one file, WAL) by default; DATABASE_URL selects PostgreSQL."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import current_app, g
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine

from workbench import models  # noqa: F401  (registers the tables)


def default_url() -> str:
    return os.environ.get("DATABASE_URL") or f"sqlite:///{Path.cwd() / 'instance' / 'workbench.db'}"


def make_engine(url: str) -> Engine:
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - exercised by every test
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=15000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def create_schema(engine: Engine) -> None:
    """Bring the schema to the newest migration (Alembic)."""
    from workbench.migrate import upgrade

    upgrade(engine)


def get_session() -> Session:
    """The request's session (one per request, closed at teardown)."""
    if "db" not in g:
        g.db = Session(current_app.extensions["workbench.engine"], expire_on_commit=False)
    return g.db


@contextmanager
def transaction(db: Session | None = None) -> Iterator[Session]:
    """The one owner of a write: run a service in the request's transaction (the request's session unless
    `db` is given), commit when the block ends, roll back when it raises (and re-raise). Services and
    domain code never commit.

        with transaction() as db:
            result = services.records.submit(db, ...)
    """
    db = db if db is not None else get_session()
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise


def close_session(_exc=None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


__all__ = ["SQLModel", "Session", "close_session", "create_schema", "default_url", "get_session", "make_engine", "transaction"]
