"""The dashboard's due board (schedules.due_board) reads counts and the first items per status from
subject_latest: it shows exactly what summary(due_items(...)) gave (counts, first 8 per column, in order) over
subjects overdue, due soon, fine, cleared and without a due date, periodic processes done and never done, on
SQLite and PostgreSQL; and the dashboard runs as many statements, and allocates as much, at 10 as at 1,000
subjects."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import Session

from tests.conftest import World, load_fixture
from tests.test_postgres import pg_app, pg_url  # noqa: F401 (fixtures)
from workbench import records, schedules
from workbench.templates import shipped_library

TODAY = date(2026, 11, 24)
LIB = shipped_library()
KS = load_fixture("kitchen-sink.json")
PERIODIC = dict(KS, key="drill", schedule={"every_months": 6, "date_field": "inspected_on"})
NEVER = dict(KS, key="review", schedule={"every_months": 12, "date_field": "inspected_on"})
SUBJECTS = ["a-1", "B-2", "b-3", "量具-4", "Z-5", "z-6", "é-7", "_8", "#9", "10"]


def varied(db, world: World) -> None:
    """Calibrations and licences spread over overdue / due soon / fine, with ties on due dates, renewals,
    cleared licences (no expiry) and records of a periodic process."""
    user = world.users["member"]
    cal = world.add_template(LIB["calibration-record"], world.acme)
    lic = world.add_template(LIB["licence-permit"], world.acme)
    drill = world.add_template(PERIODIC, world.acme)
    world.add_template(NEVER, world.acme)
    c0, l0 = LIB["calibration-record"]["examples"][0], LIB["licence-permit"]["examples"][0]
    n = 0
    for round_ in range(3):
        for i, s in enumerate(SUBJECTS):
            n += 1
            due = TODAY + timedelta(days=(n * 37) % 200 - 80)  # -80 … +119 days, repeating: ties
            records.create(db, world.acme, cal, dict(c0, instrument_no=f"{s}-{n % 5}", calibration_date=str(TODAY - timedelta(days=400 - n)),
                                                     next_due_date=str(due)), user)
            lic_values = dict(l0, licence_no=f"L{s}-{n % 4}", expiry_date=str(due + timedelta(days=round_)))
            if (n % 7) == 0:  # renewed as long-term: cleared
                lic_values = {k: v for k, v in lic_values.items() if k != "expiry_date"} | {"no_expiry": True}
            records.create(db, world.acme, lic, lic_values, user)
    records.create(db, world.acme, drill, {"batch_no": "B1", "inspected_on": str(TODAY - timedelta(days=200)),
                                           "result": "pass", "quantity": 1, "release_by": "王芳"}, user)
    db.commit()


def shown(items):
    return [(i.template.key, i.subject, i.due, i.status, i.last_record.id if i.last_record else None) for i in items]


def same_as_due_items(db, org, today):
    want = schedules.summary(schedules.due_items(db, org, today))
    for limit in (8, 3, 50):
        got = schedules.due_board(db, org, today, shown=limit)
        assert {s: c.count for s, c in got.items()} == {s: len(v) for s, v in want.items()}
        for s in want:
            assert shown(got[s].items) == shown(want[s][:limit]), (s, limit)
    return want


def test_due_board_matches_due_items(app, db, world):
    varied(db, world)
    for today in (TODAY, TODAY - timedelta(days=60), TODAY + timedelta(days=90), date(2030, 1, 1)):
        same_as_due_items(db, world.acme, today)
    board = schedules.due_board(db, world.acme, TODAY)
    assert board["overdue"].count > 8 and board["due_soon"].count > 8 and board["done"].count > 3
    assert schedules.due_board(db, world.other, TODAY) == {s: schedules.DueColumn(0, []) for s in ("overdue", "due_soon", "done")}


@pytest.mark.postgres
def test_due_board_matches_due_items_on_postgres(pg_app):  # noqa: F811
    with Session(pg_app.extensions["workbench.engine"], expire_on_commit=False) as db:
        world = World(db)
        with pg_app.app_context():
            varied(db, world)
        for today in (TODAY, TODAY - timedelta(days=60), date(2030, 1, 1)):
            same_as_due_items(db, world.acme, today)


def test_dashboard_statements_and_memory_do_not_grow_with_subjects(app, db, world):
    """10 vs 1,000 calibrated instruments (a third overdue, a third due soon, a third fine): the dashboard runs
    the same statements, loads only the records it shows and allocates about as much."""
    from bench.chain_data import synthetic_records
    from tests.conftest import login
    from tests.test_scale_shape import _peak, page_shape

    cal = world.add_template(LIB["calibration-record"], world.acme)
    ex = LIB["calibration-record"]["examples"][0]
    today = date.today()

    def data_for(i: int) -> dict:
        return dict(ex, instrument_no=f"JL-{i:05d}", next_due_date=str(today + timedelta(days=(i % 3) * 40 - 20)))
    client = app.test_client()
    assert login(client, world.users["manager"].email).status_code == 302
    shapes, peaks, done = [], [], 0
    for n in (10, 1000):
        synthetic_records(db, world.acme, cal, n - done, world.users["member"], data_for=lambda i, d=done: data_for(i + d))
        done = n
        board = schedules.due_board(db, world.acme)
        assert sum(c.count for c in board.values()) == n and all(len(c.items) <= 8 for c in board.values())
        shapes.append(page_shape(app, client, "/o/acme/"))
        peaks.append(_peak(lambda: client.get("/o/acme/").close()))
    assert shapes[0][0] == shapes[1][0], shapes  # statements
    assert shapes[1][1] <= 3 * 8, shapes  # records loaded: only those shown (8 per column)
    assert peaks[1] < peaks[0] * 1.5 + 100_000, peaks
