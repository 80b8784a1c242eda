"""Issue #11, shape not time: the SQL statements a page runs do not grow with the organization (100 vs 1,000
records, counted with a `before_cursor_execute` hook), and drawing a sample does not load the population as
records. Data comes from the bulk path of the scale benchmark (bench/scale.py), not through HTTP."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import event as sa_event
from sqlmodel import select

from bench.scale import populate
from tests.conftest import login
from workbench import records
from workbench.models import Record
from workbench.templates import shipped_library

KEYS = ("production-inspection", "nonconforming-output", "corrective-action", "measuring-equipment",
        "calibration-record")


@pytest.fixture
def scaled(app, db, world):
    """acme with a few shipped processes, a nonconformity answered by a corrective action, an open engagement;
    grow(n) brings the organization to n records (bulk, chain-valid)."""
    lib = shipped_library()
    tpls = {k: world.add_template(lib[k], world.acme) for k in KEYS}
    world.open_engagement_for_auditor()
    user = world.users["member"]
    nc = records.create(db, world.acme, tpls["nonconforming-output"], lib["nonconforming-output"]["examples"][0], user)
    db.flush()
    ca = dict(lib["corrective-action"]["examples"][0], source_record=str(nc.id))
    records.create(db, world.acme, tpls["corrective-action"], ca, user)
    db.commit()

    def grow(n: int) -> None:
        have = len(db.exec(select(Record.id).where(Record.org_id == world.acme.id)).all())
        populate(db, world.acme, user, n - have, scheme=1)
    from workbench.audit.models import Engagement
    eid = db.exec(select(Engagement.id).where(Engagement.org_id == world.acme.id)).first()
    grow.answer = records.get(db, world.acme.id, nc.id + 1)
    return grow, nc.id, eid


def statements(app, fn) -> int:
    seen = []
    engine = app.extensions["workbench.engine"]

    def count(conn, cursor, statement, params, context, executemany):
        seen.append(statement)
    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        fn()
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def loads(fn) -> int:
    """How many Record, Revision and Event objects fn() materializes."""
    from workbench.models import Event, Revision

    seen = []

    def on_load(target, context):
        seen.append(1)
    for model in (Record, Revision, Event):
        sa_event.listen(model, "load", on_load)
    try:
        fn()
    finally:
        for model in (Record, Revision, Event):
            sa_event.remove(model, "load", on_load)
    return len(seen)


def page_shape(app, client, url: str) -> tuple[int, int]:
    """(SQL statements, objects loaded) of one GET."""
    def go():
        resp = client.get(url)
        assert resp.status_code == 200, (url, resp.status_code)
    go()  # warm-up: per-process caches (templates, translations) are not the organization's size
    return statements(app, go), loads(go)


LIST_BOUND = 60  # a list page shows 50 records (workbench.listing); loading the organization grows 10×

PAGES = {
    "dashboard": "/o/acme/",
    "record list": "/o/acme/p/production-inspection/",
    "record page": "/o/acme/r/{nc}",
    "to-do": "/o/acme/todo",
    "coverage": "/o/acme/audit/e/{eid}/coverage",
    "new-record form": "/o/acme/p/production-inspection/new",
    "new-record form with a link field": "/o/acme/p/corrective-action/new",
}


@pytest.mark.parametrize("page", list(PAGES))
def test_statements_per_page_do_not_grow_with_the_organization(app, world, scaled, page):
    grow, nc, eid = scaled
    client = app.test_client()
    assert login(client, world.users["manager"].email).status_code == 302
    url = PAGES[page].format(nc=nc, eid=eid)
    grow(100)
    small, small_loads = page_shape(app, client, url)
    grow(1_000)
    big, big_loads = page_shape(app, client, url)
    assert big == small, f"{page}: {small} statements at 100 records, {big} at 1,000"
    assert big_loads <= max(small_loads, LIST_BOUND), f"{page}: {small_loads} objects loaded at 100 records, {big_loads} at 1,000"


def test_the_record_page_still_finds_the_records_linking_to_it(app, db, world, scaled):
    """The link lookup moved into SQL (JSON value compared there): the answering corrective action is found,
    a record whose link names another record is not."""
    from workbench.models import ProcessTemplate

    grow, nc, _eid = scaled
    grow(100)
    rec = records.get(db, world.acme.id, nc)
    found = [(d, r.id) for d, r in records.linked(db, rec, db.get(ProcessTemplate, rec.template_id))]
    assert ("from", grow.answer.id) in found
    assert all(r == grow.answer.id for d, r in found if d == "from"), found


def test_drawing_a_sample_does_not_load_the_population_as_records(app, db, world, scaled):
    from workbench.audit import sampling
    from workbench.audit.models import Engagement

    grow, _nc, eid = scaled
    loaded = []

    def on_load(target, context):
        loaded.append(target.id)
    sa_event.listen(Record, "load", on_load)
    try:
        out = {}
        for n in (1_000, 10_000):
            grow(n)
            db.expire_all()
            loaded.clear()
            e = db.get(Engagement, eid)
            definition = {"start": e.period_start.isoformat(), "end": e.period_end.isoformat(), "process": None,
                          "standard": None, "clause": None, "state": None}
            s = sampling.create_sample(db, e, definition, sampling.make_rule("fixed", n=50), 7, world.users["auditor"])
            assert s.population_size >= n - 10 and len(s.drawn) == 50
            out[n] = len(loaded)
            db.rollback()
    finally:
        sa_event.remove(Record, "load", on_load)
    assert out[10_000] <= max(out[1_000], 50), out


# A full pass over the organization's records is one statement too, so counting statements cannot see it: the
# plan of every statement a page runs must reach records, events and revisions by a key more selective than
# the organization (SQLite plans the same at any size here: no ANALYZE statistics).
WHOLE_ORG = re.compile(r"^SCAN (record|event|revision)\b|^SEARCH (record|event|revision) USING (COVERING )?INDEX \w+ \(org_id=\?\)$")
# SQLite answers a lone min()/max() over an index by one seek, though its plan line looks the same
MIN_MAX = re.compile(r"^SELECT (min|max)\([\w.]+\) AS \w+ FROM \w+ WHERE [^()]*$")
MINE = ("dashboard", "record list", "record page", "to-do", "new-record form", "new-record form with a link field")


def plans(app, fn) -> list[tuple[str, str]]:
    """(statement, plan line) of every SELECT fn() runs."""
    seen = []
    engine = app.extensions["workbench.engine"]

    def keep(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, params))
    sa_event.listen(engine, "before_cursor_execute", keep)
    try:
        fn()
    finally:
        sa_event.remove(engine, "before_cursor_execute", keep)
    out = []
    with engine.connect() as c:
        for statement, params in seen:
            out += [(statement, row[3]) for row in c.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)]
    return out


@pytest.mark.parametrize("page", MINE)
def test_no_statement_of_a_page_reads_the_whole_organization(app, world, scaled, page):
    grow, nc, eid = scaled
    client = app.test_client()
    assert login(client, world.users["manager"].email).status_code == 302
    grow(300)
    url = PAGES[page].format(nc=nc, eid=eid)
    client.get(url)
    bad = [(" ".join(s.split())[:300], line) for s, line in plans(app, lambda: client.get(url))
           if WHOLE_ORG.search(line) and not MIN_MAX.match(" ".join(s.split()))]
    assert not bad, f"{page}: statements reading all the organization's records: {bad}"


def test_the_record_page_finds_its_back_links_by_index(app, db, world, scaled):
    """The answering corrective action comes from record_link (ix_record_link_to), not from the linking
    template's records."""
    grow, nc, _eid = scaled
    grow(300)
    client = app.test_client()
    assert login(client, world.users["manager"].email).status_code == 302
    html = client.get(f"/o/acme/r/{nc}").get_data(as_text=True)
    assert f"/o/acme/r/{grow.answer.id}" in html
    lines = [line for _s, line in plans(app, lambda: client.get(f"/o/acme/r/{nc}"))]
    assert any("record_link USING" in line and "ix_record_link_to" in line for line in lines), lines


def _peak(fn) -> int:
    """fn()'s tracemalloc peak in bytes (above what was allocated when it started)."""
    import gc
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _whole_period(e) -> dict:
    return {"start": e.period_start.isoformat(), "end": e.period_end.isoformat(), "process": None,
            "standard": None, "clause": None, "state": None}


@pytest.mark.parametrize("stratify", [None, "month"])
def test_drawing_a_sample_uses_memory_independent_of_the_population(app, db, world, scaled, stratify):
    """Algorithm 2 counts in SQL, draws places, then streams the frame into chunks: the peak at 10,000 records is
    that at 1,000 (one chunk and the sample), not ten times it."""
    from workbench.audit import sampling
    from workbench.audit.models import Engagement

    grow, _nc, eid = scaled
    peaks, sizes = {}, {}
    for n in (1_000, 10_000):
        grow(n)
        db.expire_all()
        e = db.get(Engagement, eid)
        out = []
        rule = sampling.make_rule("fixed", n=50, stratify=stratify)
        with app.test_request_context("/"):
            peaks[n] = _peak(lambda: out.append(sampling.create_sample(db, e, _whole_period(e), rule, 7, world.users["auditor"])))
        s = out[0]
        sizes[n] = s.population_size
        assert len(s.drawn) >= 50 and s.population_ids == [] and s.frame_digest
        with app.test_request_context("/"):
            assert sampling.verify_sample(db, s).ok
        db.rollback()
    assert sizes[10_000] >= 9 * sizes[1_000], sizes
    assert peaks[10_000] <= peaks[1_000] * 1.3 + 256 * 1024, peaks


def test_report_xlsx_memory_does_not_grow_with_the_population(app, db, world, scaled):
    """The workbook is written in write-only mode and the frozen frame of the sample (every record of the
    period here) is streamed into it from its chunks: writing it at 20,000 records peaks near 2,000's.
    (Gathering the report is measured apart: readiness holds one subject's records at a time.)"""
    import io

    from openpyxl import load_workbook

    from workbench.audit import report as report_mod
    from workbench.audit import sampling
    from workbench.audit.models import Engagement

    grow, _nc, eid = scaled
    client = app.test_client()
    assert login(client, world.users["auditor"].email).status_code == 302
    peaks, rows = {}, {}
    for n in (2_000, 20_000):
        grow(n)
        db.expire_all()
        e = db.get(Engagement, eid)
        with app.test_request_context("/"):
            s = sampling.create_sample(db, e, _whole_period(e), sampling.make_rule("fixed", n=20), 11, world.users["auditor"])
        db.commit()
        got = client.get(f"/o/acme/audit/e/{eid}/report.xlsx")
        assert got.status_code == 200
        wb = load_workbook(io.BytesIO(got.data), read_only=True)
        rows[n] = sum(1 for r in wb.worksheets[2].iter_rows(min_row=2, values_only=True) if r[0] == s.number)
        assert rows[n] == s.population_size
        with app.test_request_context("/"):
            rep = report_mod.gather(db, world.acme, db.get(Engagement, eid), "zh")
            peaks[n] = _peak(lambda: report_mod.xlsx(rep, db))
    assert rows[20_000] >= 9 * rows[2_000], rows
    # the xlsx bytes themselves (compressed, a few bytes a frame row) are the only part allowed to grow
    assert peaks[20_000] <= peaks[2_000] * 1.3 + 1024 * 1024, peaks

