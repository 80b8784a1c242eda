"""Two managers at once: approving the same draft or generating the same procedure concurrently leaves one
approval and one draft (the others get a Conflict or the existing draft), on SQLite and on PostgreSQL."""
from __future__ import annotations

import threading

import pytest
from sqlmodel import Session, select

from tests.conftest import PASSWORD, World
from tests.test_postgres import pg_app, pg_url  # noqa: F401  (fixtures)
from workbench import library, trail
from workbench.documents import control
from workbench.documents.models import ControlledDocument
from workbench.errors import Conflict
from workbench.models import Event, Organization, User


def race(app, n, fn):
    engine = app.extensions["workbench.engine"]
    results, errors = [], []
    barrier = threading.Barrier(n)

    def work():
        try:
            with app.app_context(), Session(engine, expire_on_commit=False) as db:
                barrier.wait()
                results.append(fn(db))
                db.commit()
        except Conflict as e:
            results.append(e)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [], errors
    return results


def check(app):
    engine = app.extensions["workbench.engine"]
    with Session(engine, expire_on_commit=False) as db:
        w = World(db)
        library.install_shipped(db)
        library.adopt_library(db, w.acme)
        org_id, mgr_id = w.acme.id, w.users["manager"].id

    def gen(db):
        return control.generate_procedure(db, db.get(Organization, org_id), "internal-audit", db.get(User, mgr_id)).id

    ids = race(app, 4, gen)
    assert len(set(ids)) == 1
    doc_id = ids[0]

    def approve(db):
        org = db.get(Organization, org_id)
        return control.approve(db, org, db.get(ControlledDocument, doc_id), db.get(User, mgr_id), {"manager"}, PASSWORD).id

    results = race(app, 4, approve)
    assert sum(1 for r in results if r == doc_id) == 1
    assert sum(1 for r in results if isinstance(r, Conflict)) == 3
    with Session(engine) as db:
        docs = db.exec(select(ControlledDocument).where(ControlledDocument.org_id == org_id)).all()
        assert [(d.version, d.status) for d in docs] == [(1, "in_force")]
        actions = [e.action for e in db.exec(select(Event).where(Event.org_id == org_id)).all()]
        assert actions.count("doc_approve") == 1 and actions.count("doc_draft") == 1
        assert trail.verify(db, org_id).ok


def test_concurrent_generate_and_approve_on_sqlite(app):
    check(app)


@pytest.mark.postgres
def test_concurrent_generate_and_approve_on_postgres(pg_app):  # noqa: F811
    check(pg_app)
