"""Figures maintained on write for the pages at scale (issue #11, workbench.latest): each subject's latest record
(subject_latest) follows creates and edits that move a subject or its dates, a set-based rebuild gives the same
rows, and the records-per-process tally counts every created record; the dashboard and the to-do list read them."""
from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from workbench import latest, records, schedules, todo
from workbench.latest import ProcessTally, SubjectLatest
from workbench.models import Record
from workbench.templates import shipped_library

CAL = shipped_library()["calibration-record"]


@pytest.fixture
def cal(app, db, world):
    return world.add_template(CAL, world.acme)


def make(db, world, tpl, **over):
    rec = records.create(db, world.acme, tpl, dict(CAL["examples"][0], **over), world.users["member"])
    db.flush()
    return rec


def table(db) -> dict[str, tuple]:
    return {r.subject: (r.record_id, r.due_date) for r in db.exec(select(SubjectLatest)).all()}


def test_latest_record_per_subject_follows_creates_and_edits(app, db, world, cal):
    with app.test_request_context():
        old = make(db, world, cal, instrument_no="A", calibration_date="2025-01-01", next_due_date="2000-01-01")
        new = make(db, world, cal, instrument_no="A", calibration_date="2025-06-01", next_due_date="2999-01-01")
        backdated = make(db, world, cal, instrument_no="A", calibration_date="2024-01-01", next_due_date="2001-01-01")
        b = make(db, world, cal, instrument_no="B", calibration_date="2025-02-01", next_due_date="2000-02-01")
        db.commit()
        assert table(db) == {"A": (new.id, date(2999, 1, 1)), "B": (b.id, date(2000, 2, 1))}
        # the newest record of A moves to instrument C: A falls back to its previous record
        records.edit(db, new, cal, dict(new.data, instrument_no="C"), world.users["member"])
        db.commit()
        assert table(db) == {"A": (old.id, date(2000, 1, 1)), "B": (b.id, date(2000, 2, 1)), "C": (new.id, date(2999, 1, 1))}
        # a newer record of B without a due date (scrapped gauge) clears B
        records.edit(db, b, cal, {k: v for k, v in b.data.items() if k != "next_due_date"}, world.users["member"])
        db.commit()
        assert table(db)["B"] == (b.id, None)
        items = {(i.subject, i.last_record.id) for i in schedules.due_items(db, world.acme)}
        assert items == {("A", old.id), ("C", new.id)}
        due = {(r.subject, r.last_record_id) for r in todo.due_rows(db, world.acme, world.users["manager"].id, {"manager"})}
        assert due == {("A", old.id)}  # C is due in 2999
        assert backdated.id not in {rid for rid, _d in table(db).values()}
        written = table(db)
        latest.rebuild(db, world.acme.id)
        db.commit()
        assert table(db) == written


def test_tally_counts_every_created_record_and_the_dashboard_shows_it(app, db, world, cal, client_for):
    with app.test_request_context():
        for i in range(3):
            make(db, world, cal, instrument_no=f"T{i}")
        db.commit()
    tally = {t.template_key: t.records for t in db.exec(select(ProcessTally).where(ProcessTally.org_id == world.acme.id)).all()}
    assert tally == {"calibration-record": 3}
    assert schedules.process_stats(db, world.acme, ["calibration-record"])["calibration-record"][0] == 3
    latest.rebuild(db, world.acme.id)
    db.commit()
    assert {t.template_key: t.records for t in db.exec(select(ProcessTally)).all()} == tally
    n = len(db.exec(select(Record.id).where(Record.org_id == world.acme.id)).all())
    assert n == 3
    html = client_for("manager").get("/o/acme/").get_data(as_text=True)
    assert "calibration-record" in html


def test_top_bar_count_is_capped(app, db, world, cal, monkeypatch):
    """The top bar counts at most CAP items (the database stops there); the to-do page counts them all."""
    with app.test_request_context():
        for i in range(5):
            rec = make(db, world, cal, instrument_no=f"S{i}", next_due_date="2999-01-01")
            rec.state = "submitted"  # waiting for the manager's confirmation
        db.commit()
        manager = world.users["manager"]
        full = todo.count(db, world.acme, manager, {"manager"})
        assert full >= 5
        assert todo.count(db, world.acme, manager, {"manager"}, cap=3) == 3
        assert todo.for_user(db, world.acme, manager, {"manager"}).counts["act"] == 5
