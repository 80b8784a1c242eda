"""The daily loop on PostgreSQL: gapless numbering and outbox claims with threads, to-do SQL (window
functions, JSON operators) and list filters/export."""
from __future__ import annotations

import io
import threading

import pytest
from openpyxl import load_workbook
from sqlmodel import Session, select

from tests.conftest import World, login
from tests.test_daily_forms import _numbered, concurrent_numbering
from tests.test_postgres import pg_app, pg_url  # noqa: F401 (fixtures)
from workbench import outbox, records, todo, workflow
from workbench.notify.models import Outbox
from workbench.templates import LIBRARY_DIR, load_file

pytestmark = pytest.mark.postgres


@pytest.fixture
def world(pg_app):  # noqa: F811
    with Session(pg_app.extensions["workbench.engine"], expire_on_commit=False) as db:
        yield World(db)


def test_numbering_gapless_with_threads_postgres(pg_app, world):  # noqa: F811
    tpl = _numbered(world)
    with pg_app.test_request_context():
        nums = concurrent_numbering(pg_app.extensions["workbench.engine"], world.acme.id, tpl.id)
    seqs = sorted(int(n.rsplit("-", 1)[1]) for n in nums)
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) == 6 * 5 - 3


def test_two_delivery_workers_on_postgres(pg_app, world):  # noqa: F811
    engine = pg_app.extensions["workbench.engine"]
    with pg_app.app_context():
        for i in range(40):
            outbox.enqueue(world.db, "webhook", "http://x/", {"i": i}, f"pg{i}")
        world.db.commit()
        sent, lock = [], threading.Lock()

        def fake_send(row):
            with lock:
                sent.append(row.id)

        def work(name):
            with pg_app.app_context():
                outbox.deliver(engine, name, send=fake_send)

        ts = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(3)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        assert len(sent) == 40 and len(set(sent)) == 40
        assert {r.state for r in world.db.exec(select(Outbox)).all()} == {"sent"}


def test_todo_and_list_on_postgres(pg_app, world):  # noqa: F811
    db = world.db
    insp = world.add_template(load_file(LIBRARY_DIR / "production-inspection.json"))
    cal = world.add_template(load_file(LIBRARY_DIR / "calibration-record.json"))
    for ex in insp.body["examples"]:
        rec = records.create(db, world.acme, insp, ex, world.users["member"])
        with pg_app.test_request_context():
            workflow.take(db, rec, insp.body, "submit", world.users["member"], {"member"})
    records.create(db, world.acme, cal, dict(cal.body["examples"][0], next_due_date="2000-01-01"), world.users["member"])
    db.commit()
    with pg_app.test_request_context():
        t = todo.for_user(db, world.acme, world.users["manager"], {"manager"})
        assert t.counts["act"] == len(insp.body["examples"]) and [d.subject for d in t.due] == ["JL-0012"]
    c = pg_app.test_client()
    login(c, world.users["manager"].email)
    assert c.get("/o/acme/todo").status_code == 200
    r = c.get("/o/acme/p/production-inspection/export.xlsx?f.result=fail&q=B26")
    rows = list(load_workbook(io.BytesIO(r.data), read_only=True).worksheets[0].iter_rows(min_row=2, values_only=True))
    fails = [e for e in insp.body["examples"] if e["result"] == "fail" and "B26" in e["batch_no"]]
    assert len(rows) == len(fails)
    assert c.get("/o/acme/p/production-inspection/?sort=inspected_at&f.inspected_at.from=2026-01-01").status_code == 200
