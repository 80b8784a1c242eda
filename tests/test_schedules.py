"""Schedules: due/overdue across month ends and leap years; completing the right record clears the item;
the demo organization shows a realistic mix."""
from __future__ import annotations

from datetime import date

import pytest

from tests.conftest import load_fixture
from workbench import records, schedules, workflow
from workbench.schedules import add_months, status_of

KS = load_fixture("kitchen-sink.json")


@pytest.mark.parametrize("start,months,expected", [
    (date(2024, 1, 31), 1, date(2024, 2, 29)),   # leap year
    (date(2023, 1, 31), 1, date(2023, 2, 28)),
    (date(2024, 2, 29), 12, date(2025, 2, 28)),  # from a leap day to a common year
    (date(2024, 2, 29), 48, date(2028, 2, 29)),
    (date(2025, 8, 31), 6, date(2026, 2, 28)),
    (date(2025, 10, 31), 1, date(2025, 11, 30)),
    (date(2025, 12, 15), 1, date(2026, 1, 15)),  # across the year end
    (date(2026, 3, 31), -1, date(2026, 2, 28)),
])
def test_add_months_clamps_to_month_end(start, months, expected):
    assert add_months(start, months) == expected


@pytest.mark.parametrize("due,today,expected", [
    (date(2026, 2, 28), date(2026, 3, 1), "overdue"),
    (date(2026, 2, 28), date(2026, 2, 28), "due_soon"),
    (date(2024, 3, 29), date(2024, 2, 28), "due_soon"),  # 30 days incl. Feb 29
    (date(2024, 3, 30), date(2024, 2, 28), "done"),
    (date(2027, 1, 1), date(2026, 12, 2), "due_soon"),
])
def test_status_boundaries(due, today, expected):
    assert status_of(due, today) == expected


PERIODIC = dict(KS, key="drill", schedule={"every_months": 6, "date_field": "inspected_on"})
EXPIRING = dict(KS, key="licence", schedule={"due_field": "inspected_on", "subject_field": "batch_no", "warn_days": 30})
BASE = {"batch_no": "B1", "inspected_on": "2026-01-05", "result": "pass", "quantity": 1, "release_by": "王芳"}


def close(app, db, world, rec, body):
    with app.test_request_context():
        for name in workflow.path_to_final(body):
            role = "manager" if name == "release" else "member"
            workflow.take(db, rec, body, name, world.users[role], {role}, password="correct horse battery")
    db.commit()


def test_periodic_process(app, db, world):
    tpl = world.add_template(PERIODIC, world.acme)
    today = date(2026, 8, 31)
    [item] = schedules.due_items(db, world.acme, today)
    assert item.status == "overdue" and item.last_record is None  # never done
    with app.app_context():
        rec = records.create(db, world.acme, tpl, dict(BASE, inspected_on="2026-02-28"), world.users["member"])
        db.commit()
    [item] = schedules.due_items(db, world.acme, today)
    assert item.status == "overdue", "a draft does not count as done"
    close(app, db, world, rec, PERIODIC)
    [item] = schedules.due_items(db, world.acme, today)
    assert item.due == date(2026, 8, 28) and item.status == "overdue"
    [item] = schedules.due_items(db, world.acme, date(2026, 8, 1))
    assert item.status == "due_soon"
    with app.app_context():
        rec2 = records.create(db, world.acme, tpl, dict(BASE, inspected_on="2026-08-30"), world.users["member"])
        db.commit()
    close(app, db, world, rec2, PERIODIC)
    [item] = schedules.due_items(db, world.acme, today)
    assert item.status == "done" and item.due == date(2027, 2, 28) and item.last_record.id == rec2.id


def test_expiry_per_subject(app, db, world):
    tpl = world.add_template(EXPIRING, world.acme)
    with app.app_context():
        for batch, due in (("L-1", "2026-03-01"), ("L-2", "2026-03-20"), ("L-3", "2026-12-31")):
            records.create(db, world.acme, tpl, dict(BASE, batch_no=batch, inspected_on=due), world.users["member"])
        db.commit()
    items = {i.subject: i.status for i in schedules.due_items(db, world.acme, date(2026, 3, 2))}
    assert items == {"L-1": "overdue", "L-2": "due_soon", "L-3": "done"}
    with app.app_context():  # renewing L-1 clears it
        records.create(db, world.acme, tpl, dict(BASE, batch_no="L-1", inspected_on="2027-03-01"), world.users["member"])
        db.commit()
    items = {i.subject: i.status for i in schedules.due_items(db, world.acme, date(2026, 3, 2))}
    assert items["L-1"] == "done"
    # another organization's items are its own
    assert schedules.due_items(db, world.other, date(2026, 3, 2)) == []


def test_demo_shows_a_realistic_mix(app, db):
    from workbench.demo import seed
    from workbench.models import Organization
    from sqlmodel import select

    with app.app_context():
        report = seed(today=date(2026, 11, 24))
    assert report.records > 200
    assert report.skipped_steps == [], "every template's examples can walk its workflow to the end"
    org = db.exec(select(Organization).where(Organization.slug == "demo")).one()
    summary = schedules.summary(schedules.due_items(db, org, date(2026, 11, 24)))
    assert summary["overdue"] and summary["due_soon"] and summary["done"], {k: len(v) for k, v in summary.items()}
    assert len(summary["done"]) > len(summary["overdue"])
    from workbench import trail

    assert trail.verify(db, org.id).ok
