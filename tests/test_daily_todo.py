"""待办: what waits for whom (SQL counts), returned records, due items, findings; auditors land on engagements;
the dashboard's due items open a new record; lists search/filter/export; bulk sign; print view; QR."""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from tests.conftest import PASSWORD, csrf_from
from workbench import records, todo, workflow
from workbench.auth import roles_in
from workbench.models import Event, Record
from workbench.templates import LIBRARY_DIR, load_file


@pytest.fixture
def insp(world):
    return world.add_template(load_file(LIBRARY_DIR / "production-inspection.json"))


def _make(db, world, tpl, n=1, submit=True, **over):
    out = []
    for i in range(n):
        data = dict(tpl.body["examples"][i % len(tpl.body["examples"])], **over)
        rec = records.create(db, world.acme, tpl, data, world.users["member"])
        if submit:
            workflow.take(db, rec, tpl.body, "submit", world.users["member"], {"member"})
        out.append(rec)
    db.commit()
    return out


def test_manager_sees_records_awaiting_signature(app, db, world, insp, client_for):
    _make(db, world, insp, 3)
    m = world.users["manager"]
    with app.test_request_context():
        t = todo.for_user(db, world.acme, m, roles_in(db, m, world.acme.id))
        assert t.counts["act"] == 3 and len(t.act) == 3
        mem = world.users["member"]
        assert todo.for_user(db, world.acme, mem, {"member"}).counts["act"] == 0
    c = client_for("manager")
    page = c.get("/o/acme/todo").get_data(as_text=True)
    assert page.count("/o/acme/r/") >= 3
    assert 'class="count-badge"' in c.get("/o/acme/").get_data(as_text=True)


def test_returned_record_waits_for_its_author(app, db, world, insp):
    rec = _make(db, world, insp, 1)[0]
    with app.test_request_context():
        workflow.take(db, rec, insp.body, "return", world.users["manager"], {"manager"}, comment="批号写错")
        db.commit()
        t = todo.for_user(db, world.acme, world.users["member"], {"member"})
        assert [r.id for r in t.returned] == [rec.id]
        # a draft never submitted is not "returned"
        _make(db, world, insp, 1, submit=False)
        assert todo.for_user(db, world.acme, world.users["member"], {"member"}).counts["returned"] == 1


def test_due_rows_match_schedules(app, db, world):
    from workbench import schedules

    cal = world.add_template(load_file(LIBRARY_DIR / "calibration-record.json"))
    today = date.today()
    for i, days in enumerate((-3, 5, 60)):
        records.create(db, world.acme, cal, dict(cal.body["examples"][0], instrument_no=f"JL-{i}",
                                                  next_due_date=(today + timedelta(days=days)).isoformat()), world.users["member"])
    # a newer record for JL-0 clears its overdue date
    records.create(db, world.acme, cal, dict(cal.body["examples"][0], instrument_no="JL-0", calibration_date=today.isoformat(),
                                              next_due_date=(today + timedelta(days=180)).isoformat()), world.users["member"])
    db.commit()
    with app.test_request_context():
        rows = todo.due_rows(db, world.acme, world.users["manager"].id, {"manager"})
        ref = [i for i in schedules.due_items(db, world.acme) if i.status != "done"]
        assert sorted((r.subject, r.due) for r in rows) == sorted((i.subject, i.due) for i in ref)
        assert [r.subject for r in rows] == ["JL-1"]
        # a member who never worked in calibration does not get it; the one who did does
        assert todo.due_rows(db, world.acme, world.users["member"].id, {"member"})


def test_auditor_lands_on_engagements(client_for):
    c = client_for("auditor")
    r = c.get("/o/acme/")
    assert r.status_code == 302 and "/audit/" in r.headers["Location"]


def test_dashboard_due_links_open_a_new_record(app, db, world, client_for):
    cal = world.add_template(load_file(LIBRARY_DIR / "calibration-record.json"))
    records.create(db, world.acme, cal, dict(cal.body["examples"][0], next_due_date=(date.today() - timedelta(days=2)).isoformat()),
                   world.users["member"])
    db.commit()
    html = client_for("member").get("/o/acme/").get_data(as_text=True)
    assert "/o/acme/p/calibration-record/new?link.instrument_no=JL-0012" in html


def test_list_search_filter_export_and_injection(app, db, world, insp, client_for):
    _make(db, world, insp, 6, submit=False)
    _make(db, world, insp, 1, submit=False, batch_no='=HYPERLINK("http://evil")', result="fail")
    c = client_for("member")
    html = c.get("/o/acme/p/production-inspection/?f.result=fail").get_data(as_text=True)
    fails = [r for r in db.exec(select(Record)).all() if r.data.get("result") == "fail"]
    assert f"{len(fails)} " in html or f"{len(fails)}条" in html or f"共 {len(fails)}" in html
    found = c.get("/o/acme/p/production-inspection/?q=电机输出轴").get_data(as_text=True)
    motor = [r.id for r in db.exec(select(Record)).all() if r.data.get("part_name") == "电机输出轴"]
    assert motor and all(f'/o/acme/r/{i}"' in found for i in motor)
    assert found.count('name="ids"') == len(motor)
    r = c.get("/o/acme/p/production-inspection/export.xlsx?f.result=fail")
    wb = load_workbook(io.BytesIO(r.data), read_only=True)
    main, sub = wb.worksheets
    ids = [row[0] for row in main.iter_rows(min_row=2, values_only=True)]
    assert sorted(ids) == sorted(f.id for f in fails)
    assert any(str(v).startswith("'=") for row in main.iter_rows(values_only=True) for v in row if v)
    assert not any(str(v).startswith("=") for row in main.iter_rows(values_only=True) for v in row if v)
    assert {row[0] for row in sub.iter_rows(min_row=2, values_only=True)} <= set(ids)
    r = c.get("/o/acme/p/production-inspection/export.csv?f.result=fail")
    assert r.data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert sorted(int(x[0]) for x in rows[1:]) == sorted(f.id for f in fails)


def test_list_junk_parameters_never_500(client_for, insp):
    c = client_for("member")
    for qs in ("sort=zzz&dir=up", "f.result=%00", "f.inspected_at.from=notadate", "f.nosuch=1", "by=abc", "page=99999999999",
               "q=" + "%" * 500, "f.items=1", "f.inspected_at.to=2026-01-01"):
        assert c.get("/o/acme/p/production-inspection/?" + qs).status_code == 200, qs
        assert c.get("/o/acme/p/production-inspection/export.csv?" + qs).status_code == 200, qs


def test_bulk_sign_each_record_its_own_event(app, db, world, insp, client_for):
    recs = _make(db, world, insp, 5)
    other = _make(db, world, insp, 1, submit=False)[0]  # still a draft: cannot be signed
    c = client_for("manager")
    token = csrf_from(c.get("/o/acme/p/production-inspection/").get_data(as_text=True))
    r = c.post("/o/acme/p/production-inspection/bulk", data={"csrf_token": token, "name": "decide", "password": PASSWORD,
                                                             "ids": [str(x.id) for x in recs] + [str(other.id), "999999"]})
    assert r.status_code == 303
    db.expire_all()
    for rec in recs:
        assert db.get(Record, rec.id).state == "decided"
        signs = db.exec(select(Event).where(Event.record_id == rec.id, Event.action == "sign")).all()
        assert len(signs) == 1 and signs[0].detail["signature"]["signer"] == world.users["manager"].name
    assert db.get(Record, other.id).state == "draft"
    page = c.get(r.headers["Location"]).get_data(as_text=True)
    assert f"#{other.id}" in page and "#999999" in page
    # a wrong password signs nothing
    more = _make(db, world, insp, 2)
    c.post("/o/acme/p/production-inspection/bulk", data={"csrf_token": token, "name": "decide", "password": "wrong",
                                                         "ids": [str(x.id) for x in more]})
    db.expire_all()
    assert all(db.get(Record, x.id).state == "submitted" for x in more)


def test_member_cannot_bulk_sign(db, world, insp, client_for):
    recs = _make(db, world, insp, 2)
    c = client_for("member")
    token = csrf_from(c.get("/o/acme/p/production-inspection/").get_data(as_text=True))
    c.post("/o/acme/p/production-inspection/bulk", data={"csrf_token": token, "name": "decide", "password": PASSWORD,
                                                         "ids": [str(x.id) for x in recs]})
    db.expire_all()
    assert all(db.get(Record, x.id).state == "submitted" for x in recs)
    assert client_for("outsider").post("/o/acme/p/production-inspection/bulk", data={"csrf_token": token}).status_code in (400, 404)


def test_print_view_and_qr(db, world, insp, client_for):
    rec = _make(db, world, insp, 1)[0]
    c = client_for("manager")
    html = c.get(f"/o/acme/r/{rec.id}/print").get_data(as_text=True)
    assert "检验员" in html and "张伟" in html and "inspector" not in html.replace("inspector@", "")
    assert "<button" not in html and "{'" not in html and "T14:20" not in html
    assert "2026-01-18 14:20" in html
    svg = c.get("/o/acme/p/production-inspection/qr.svg")
    assert svg.status_code == 200 and svg.data.startswith(b"<svg")
    assert c.get("/o/acme/p/production-inspection/poster").status_code == 200


def test_revision_view_shows_labels_and_formatted_values(db, world, insp, client_for):
    rec = _make(db, world, insp, 1, submit=False)[0]
    data = dict(rec.data, result="fail", items=[dict(rec.data["items"][0], result="ng")] + rec.data["items"][1:])
    records.edit(db, rec, insp, data, world.users["member"], "复检")
    db.commit()
    html = client_for("member").get(f"/o/acme/r/{rec.id}/revisions/2").get_data(as_text=True)
    assert "检验结论" in html and "合格，放行" in html and "不合格" in html and "（第 1 行）" in html
    assert "items.0.result" not in html and ">fail<" not in html
