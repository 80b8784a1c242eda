"""Two API clients edit the same record at once with the same If-Match: exactly one wins, the other gets 409 and
nothing of theirs is stored — on SQLite and on PostgreSQL (threads)."""
from __future__ import annotations

import threading

import pytest
from sqlmodel import Session, select

from tests.conftest import World, load_fixture
from tests.test_postgres import pg_app, pg_url  # noqa: F401 (fixtures)
from workbench.api import tokens
from workbench.models import Revision

KS = load_fixture("kitchen-sink.json")
GOOD = {"batch_no": "B-1", "inspected_on": "2026-03-05", "result": "pass", "quantity": 3}


def _race(app, world, db) -> None:
    world.add_template(KS, world.acme)
    with app.app_context():
        _r, clear = tokens.create(db, world.users["member"], world.acme, "read,write")
        db.commit()
    h = {"Authorization": f"Bearer {clear}"}
    rid = app.test_client().post("/api/v1/o/acme/processes/kitchen-sink/records", json={"data": GOOD},
                                 headers=h).get_json()["id"]
    barrier, codes = threading.Barrier(4), []

    def edit(n: int) -> None:
        c = app.test_client()
        barrier.wait()
        resp = c.put(f"/api/v1/o/acme/records/{rid}", json={"data": {**GOOD, "quantity": 10 + n}},
                     headers={**h, "If-Match": "1"})
        codes.append(resp.status_code)

    threads = [threading.Thread(target=edit, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 409, 409, 409], codes
    db.expire_all()
    assert len(db.exec(select(Revision).where(Revision.record_id == rid)).all()) == 2


def test_same_if_match_at_once_sqlite(app, world, db):
    _race(app, world, db)


@pytest.mark.postgres
def test_same_if_match_at_once_postgres(pg_app):  # noqa: F811
    with Session(pg_app.extensions["workbench.engine"], expire_on_commit=False) as db:
        _race(pg_app, World(db), db)
