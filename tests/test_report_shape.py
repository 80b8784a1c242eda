"""Issue #11, the audit report's gathering (readiness, departures, anomalies) in bounded memory: shape, not time.
Data comes from the bulk path of the scale benchmark (bench/scale.py); procedures are in force, so the
departures stream their processes' records and events."""
from __future__ import annotations

import io

import pytest
from conftest import PASSWORD
from sqlmodel import select

from bench.scale import populate
from tests.test_postgres import pg_app, pg_url  # noqa: F401 (fixtures)
from tests.test_scale_shape import _peak, statements
from workbench import library
from workbench.audit import readiness
from workbench.audit import report as report_mod
from workbench.audit.models import Engagement
from workbench.documents import control, departures
from workbench.models import Record
from workbench.templates import shipped_library

KEYS = ("production-inspection", "nonconforming-output", "internal-audit", "measuring-equipment", "calibration-record")


@pytest.fixture
def org(app, db, world):
    """acme with a few shipped processes, each with an approved procedure, an open engagement; grow(n) brings the
    organization to n records (bulk, chain-valid)."""
    lib = shipped_library()
    for k in KEYS:
        world.add_template(lib[k], world.acme)
    for k in KEYS:
        d = control.generate_procedure(db, world.acme, k, world.users["manager"])
        control.approve(db, world.acme, d, world.users["manager"], {"manager"}, PASSWORD)
    world.open_engagement_for_auditor()
    db.commit()

    def grow(n: int) -> None:
        have = len(db.exec(select(Record.id).where(Record.org_id == world.acme.id)).all())
        populate(db, world.acme, world.users["member"], n - have, scheme=1)
        db.commit()
    grow.eid = db.exec(select(Engagement.id).where(Engagement.org_id == world.acme.id)).first()
    return grow


def test_gathering_the_report_uses_memory_independent_of_the_organization(app, db, world, org, monkeypatch):
    """Readiness streams the periodic processes' records and keeps the first EVIDENCE; departures read each
    process a CHUNK of records (and their events) at a time and keep SHOWN departures per procedure: the peak at
    10,000 records is near that at 1,000, and readiness runs as many statements (give or take an evidence read)."""
    # batches small enough to be full at both sizes (the peak grows until a batch is full, then stays)
    monkeypatch.setattr(readiness, "BATCH", 50)
    monkeypatch.setattr(departures, "CHUNK", 20)
    monkeypatch.setattr(departures, "ROWS", 50)
    peaks, stmts = {}, {}
    for n in (1_000, 10_000):
        org(n)
        db.expire_all()
        e = db.get(Engagement, org.eid)
        with app.test_request_context("/"):
            out = []
            peaks[n] = _peak(lambda: out.append(report_mod.gather(db, world.acme, e, "zh")))
            rep = out[0]
            assert len(rep.records) <= 50 + len(KEYS) * (departures.SHOWN + 2) * 50
            assert all(len(c.departures) <= departures.SHOWN for c in rep.departures.checks)
            assert all(len(it.records) <= readiness.EVIDENCE for it in rep.readiness.items)
            stmts[n] = statements(app, lambda: readiness.check(db, world.acme, e.period_start, e.period_end, e.standards))
        db.rollback()
    assert peaks[10_000] <= peaks[1_000] * 1.3 + 1024 * 1024, peaks
    # not one statement per record or batch: the same checks, give or take one that finds something at one size
    # and not at the other (an evidence read)
    assert stmts[10_000] <= stmts[1_000] + 2, stmts
    print(peaks, stmts)


def test_a_capped_list_says_how_many_more(app, db, world, org, monkeypatch):
    """Past the cap, a readiness item keeps the first records and counts the rest; a procedure check keeps its
    first departures and counts the rest by kind; the page and the sheet say "and N more"."""
    from openpyxl import load_workbook

    from tests.conftest import login

    org(300)
    _capped_equals_whole(app, db, world, db.get(Engagement, org.eid), monkeypatch)
    client = app.test_client()
    assert login(client, world.users["auditor"].email).status_code == 302
    got = client.get(f"/o/acme/audit/e/{org.eid}/report.xlsx", headers={"Accept-Language": "en"})
    assert got.status_code == 200
    wb = load_workbook(io.BytesIO(got.data), read_only=True)
    cells = [str(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for v in row if v]
    assert any("more" in c for c in cells if c.startswith("and ") or " … " in c), cells[-20:]
    html = client.get(f"/o/acme/audit/e/{org.eid}/report").get_data(as_text=True)
    assert "departure-more" in html


def _capped_equals_whole(app, db, world, e, monkeypatch) -> None:
    """The report gathered with small caps says the same as without, only shorter, and says how many more."""
    with app.test_request_context("/"):
        whole = report_mod.gather(db, world.acme, e, "en")
        monkeypatch.setattr(readiness, "EVIDENCE", 2)
        monkeypatch.setattr(departures, "SHOWN", 1)
        capped = report_mod.gather(db, world.acme, e, "en")
    assert capped.departures.count == whole.departures.count > 1
    assert capped.departures.by_kind() == whole.departures.by_kind()
    big = [c for c in capped.departures.checks if c.count > 1]
    assert big and all(len(c.departures) == 1 and sum(c.omitted.values()) == c.count - 1 for c in big)
    assert len(capped.readiness.items) == len(whole.readiness.items)
    for it, before in zip(capped.readiness.items, whole.readiness.items):
        assert (it.check, it.code, it.subject, it.params) == (before.check, before.code, before.subject, before.params)
        assert it.count == before.count and it.records == before.records[:len(it.records)]
        assert len(it.records) <= 2 or it.total is None
    assert any(it.more for it in capped.readiness.items)


@pytest.mark.postgres
def test_report_gathering_on_postgres(pg_app, monkeypatch):  # noqa: F811
    """The same on PostgreSQL: fields read with ->> in the readiness rows, records and events read in batches
    through server-side cursors while other statements run."""
    from sqlmodel import Session

    from tests.conftest import World
    from workbench.audit import service
    from workbench.models import utcnow

    lib = shipped_library()
    with Session(pg_app.extensions["workbench.engine"], expire_on_commit=False) as db:
        world = World(db)
        for k in KEYS:
            world.add_template(lib[k], world.acme)
        with pg_app.test_request_context("/"):
            library.processes(db, world.acme)
            for k in KEYS:
                d = control.generate_procedure(db, world.acme, k, world.users["manager"])
                control.approve(db, world.acme, d, world.users["manager"], {"manager"}, PASSWORD)
        populate(db, world.acme, world.users["member"], 300, scheme=1)
        from datetime import timedelta
        now = utcnow()
        e = service.create_engagement(db, world.acme, world.users["manager"], title="pg", standards=["ISO 9001:2015"],
                                      audit_type="surveillance", period_start=now.date() - timedelta(days=365),
                                      period_end=now.date(), scope_processes=[], scope_clauses=[], access_from=now,
                                      access_until=now + timedelta(days=5))
        db.commit()
        _capped_equals_whole(pg_app, db, world, e, monkeypatch)
