"""The SQL that replaced Python loops for #11 (latest per subject, links compared as JSON text) on PostgreSQL."""
from __future__ import annotations

import pytest
from sqlmodel import Session

from tests.conftest import World
from tests.test_postgres import pg_app, pg_url  # noqa: F401 (fixtures)
from workbench import records, schedules, todo
from workbench.templates import shipped_library

pytestmark = pytest.mark.postgres


def test_due_items_and_links_on_postgres(pg_app):  # noqa: F811
    lib = shipped_library()
    with Session(pg_app.extensions["workbench.engine"], expire_on_commit=False) as db:
        world = World(db)
        user = world.users["member"]
        t = {k: world.add_template(lib[k], world.acme) for k in ("calibration-record", "nonconforming-output", "corrective-action")}
        cal = lib["calibration-record"]["examples"][0]
        records.create(db, world.acme, t["calibration-record"], dict(cal, next_due_date="2000-01-01"), user)
        newer = records.create(db, world.acme, t["calibration-record"], dict(cal, next_due_date="2999-01-01"), user)
        nc = records.create(db, world.acme, t["nonconforming-output"], lib["nonconforming-output"]["examples"][0], user)
        db.flush()
        ca = records.create(db, world.acme, t["corrective-action"],
                            dict(lib["corrective-action"]["examples"][0], source_record=str(nc.id)), user)
        db.commit()
        with pg_app.test_request_context():
            items = [i for i in schedules.due_items(db, world.acme) if i.template.key == "calibration-record"]
            assert [(i.subject, i.last_record.id) for i in items] == [(newer.subject, newer.id)]
            assert ("from", ca.id) in [(d, r.id) for d, r in records.linked(db, nc, t["nonconforming-output"])]


def test_pages_run_the_same_statements_at_100_and_1000_records_on_postgres(pg_app):  # noqa: F811
    """The to-do UNION ALLs, the latest completed record per process, the maintained tallies and latest subjects,
    record_link and the authors' skip scan, on PostgreSQL: every page answers, with as many statements at 1,000
    records as at 100, and the record page shows its back-link."""
    from sqlmodel import func, select

    from bench.scale import populate
    from tests.conftest import login
    from tests.test_scale_shape import KEYS, PAGES, page_shape
    from workbench.models import Record

    lib = shipped_library()
    with Session(pg_app.extensions["workbench.engine"], expire_on_commit=False) as db:
        world = World(db)
        tpls = {k: world.add_template(lib[k], world.acme) for k in KEYS}
        world.open_engagement_for_auditor()
        user = world.users["member"]
        with pg_app.test_request_context():
            nc = records.create(db, world.acme, tpls["nonconforming-output"], lib["nonconforming-output"]["examples"][0], user)
            db.flush()
            ca = records.create(db, world.acme, tpls["corrective-action"],
                                dict(lib["corrective-action"]["examples"][0], source_record=str(nc.id)), user)
            db.commit()
        client = pg_app.test_client()
        assert login(client, world.users["manager"].email).status_code == 302
        assert f"/o/acme/r/{ca.id}" in client.get(f"/o/acme/r/{nc.id}").get_data(as_text=True)
        shapes = {}
        for n in (100, 1_000):
            have = db.exec(select(func.count()).select_from(Record).where(Record.org_id == world.acme.id)).one()
            populate(db, world.acme, user, n - have, scheme=1)
            shapes[n] = {page: page_shape(pg_app, client, url.format(nc=nc.id, eid=0))[0]
                         for page, url in PAGES.items() if page != "coverage"}
        assert shapes[100] == shapes[1_000], shapes
        assert todo.count(db, world.acme, world.users["manager"], {"manager"}, cap=todo.CAP) <= todo.CAP


def test_sampling_coverage_and_report_on_postgres(pg_app):  # noqa: F811
    """Algorithm-2 samples (counted with EXTRACT, frame streamed through a server-side cursor into bytea chunks),
    their verification and extension, the coverage aggregates against a brute-force count, and the xlsx."""
    import io
    from datetime import date, timedelta

    from openpyxl import load_workbook

    from bench.scale import populate
    from tests.sample_frames import frame_of, redraw
    from tests.test_coverage_sql import brute_force
    from workbench.audit import coverage as cov_mod
    from workbench.audit import report as report_mod
    from workbench.audit import sampling
    from workbench.audit.models import Engagement
    from workbench.models import utcnow

    lib = shipped_library()
    with Session(pg_app.extensions["workbench.engine"], expire_on_commit=False) as db:
        world = World(db)
        for k in ("production-inspection", "calibration-record", "internal-audit"):
            world.add_template(lib[k], world.acme)
        populate(db, world.acme, world.users["member"], 300, scheme=1)
        # the bulk rows carry their ids: the id sequence was moved past them, so the service still creates
        from workbench import records
        made = records.create(db, world.acme, world.add_template(lib["nonconforming-output"], world.acme),
                              lib["nonconforming-output"]["examples"][0], world.users["member"])
        db.commit()
        assert made.id > 300
        today = date.today()
        e = Engagement(org_id=world.acme.id, title="pg", standards=["ISO 9001:2015"], audit_type="surveillance",
                       period_start=today - timedelta(days=365), period_end=today, access_from=utcnow(),
                       access_until=utcnow() + timedelta(days=5))
        db.add(e)
        db.commit()
        definition = {"start": e.period_start.isoformat(), "end": e.period_end.isoformat(), "process": None,
                      "standard": "ISO 9001:2015", "clause": "7", "state": None}
        with pg_app.test_request_context("/"):
            for stratify in (None, "month", "process"):
                s = sampling.create_sample(db, e, definition, sampling.make_rule("fixed", n=12, stratify=stratify), 99,
                                           world.users["auditor"])
                db.commit()
                ids, _strata = frame_of(db, s)
                assert len(ids) == s.population_size > 12 and ids == sorted(ids) and s.drawn == redraw(db, s)
                assert sampling.extend_sample(db, s, 3, world.users["auditor"]) == 3
                db.commit()
                assert sampling.verify_sample(db, s).ok
            standards = ["ISO 9001:2015"]
            want = brute_force(db, world.acme, standards, e.period_start, e.period_end, today)
            got = cov_mod.coverage(db, world.acme, standards, e.period_start, e.period_end, detail=True, today=today)
            assert [(r.clause, r.counts, r.expected) for r in got.rows] == [(r.clause, r.counts, r.expected) for r in want.rows]
            wb = load_workbook(io.BytesIO(report_mod.xlsx(report_mod.gather(db, world.acme, e, "zh"), db)), read_only=True)
            frame_rows = [r for r in wb.worksheets[2].iter_rows(min_row=2, values_only=True) if r[0] == s.number]
            assert [r[2] for r in frame_rows] == ids

