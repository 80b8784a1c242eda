"""Document views: generate, read (page, A4 print, .docx), approve with an e-signature, settings, as-of;
roles and tenancy enforced on the server."""
from __future__ import annotations

import io

import docx
import pytest
from sqlmodel import select

from conftest import PASSWORD, csrf_from
from workbench import library, records
from workbench.documents.models import ControlledDocument


@pytest.fixture
def setup(db, world):
    library.install_shipped(db)
    library.adopt_library(db, world.acme)
    library.adopt_library(db, world.other)
    return world


def post(c, url, data, page_url):
    token = csrf_from(c.get(page_url).get_data(as_text=True))
    return c.post(url, data={**data, "csrf_token": token})


def test_manager_generates_approves_and_everyone_reads(db, setup, client_for):
    m = client_for("manager")
    r = post(m, "/o/acme/docs/generate", {}, "/o/acme/docs/")
    assert r.status_code == 303
    docs = db.exec(select(ControlledDocument).where(ControlledDocument.org_id == setup.acme.id)).all()
    assert len(docs) == len(library.processes(db, setup.acme)) + 1
    assert all(d.status == "draft" for d in docs)
    ncr = next(d for d in docs if d.key == "nonconforming-output")
    page = m.get(f"/o/acme/docs/d/{ncr.id}").get_data(as_text=True)
    assert "不合格品处置" in page and "<svg" in page and "「处置方式」为「返工」时必填" in page
    assert 'style="' not in page and "<script>" not in page
    en = m.get(f"/o/acme/docs/d/{ncr.id}?in=en").get_data(as_text=True)
    assert "required when Disposition is Rework" in en
    pr = m.get(f"/o/acme/docs/d/{ncr.id}/print").get_data(as_text=True)
    assert "a4-print" in pr and 'style="' not in pr and "草稿" in pr
    d = m.get(f"/o/acme/docs/d/{ncr.id}/docx?in=en")
    assert d.status_code == 200 and "wordprocessingml" in d.content_type
    assert "Nonconforming output" in "\n".join(p.text for p in docx.Document(io.BytesIO(d.data)).paragraphs)
    # the e-signature: wrong password -> 422, nothing stored; right -> in force; again -> 409
    url = f"/o/acme/docs/d/{ncr.id}/approve"
    r = post(m, url, {"password": "nope", "version": "1"}, f"/o/acme/docs/d/{ncr.id}")
    assert r.status_code == 422
    db.refresh(ncr)
    assert ncr.status == "draft"
    r = post(m, url, {"password": PASSWORD, "version": "1"}, f"/o/acme/docs/d/{ncr.id}")
    assert r.status_code == 303
    db.refresh(ncr)
    assert ncr.status == "in_force" and ncr.signature["signer"] == setup.users["manager"].name
    r = post(m, url, {"password": PASSWORD, "version": "1"}, f"/o/acme/docs/d/{ncr.id}")
    assert r.status_code == 409
    # the manual page and docx
    man = next(d for d in docs if d.kind == "manual")
    page = m.get(f"/o/acme/docs/d/{man.id}").get_data(as_text=True)
    assert "条款对照表" in page and "ISO 45001:2018" in page
    assert m.get(f"/o/acme/docs/d/{man.id}/docx").status_code == 200
    # the auditor reads the register, the procedure and the departures, but cannot approve or generate
    a = client_for("auditor")
    assert a.get("/o/acme/docs/").status_code == 200
    assert a.get(f"/o/acme/docs/d/{ncr.id}").status_code == 200
    dep = a.get("/o/acme/docs/departures")
    assert dep.status_code == 200 and "PR-" in dep.get_data(as_text=True)
    assert a.post(f"/o/acme/docs/d/{man.id}/approve", data={"password": PASSWORD}).status_code in (400, 403)
    tok = csrf_from(a.get("/o/acme/docs/").get_data(as_text=True))
    assert a.post(f"/o/acme/docs/d/{man.id}/approve", data={"password": PASSWORD, "csrf_token": tok}).status_code == 403
    assert a.post("/o/acme/docs/generate", data={"csrf_token": tok}).status_code == 403
    # members read, cannot see departures (manager and auditor only)
    mem = client_for("member")
    assert mem.get(f"/o/acme/docs/d/{ncr.id}").status_code == 200
    assert mem.get("/o/acme/docs/departures").status_code == 403
    # another tenant cannot even confirm the document exists
    o = client_for("outsider")
    assert o.get(f"/o/other/docs/d/{ncr.id}").status_code == 404
    assert o.get(f"/o/acme/docs/d/{ncr.id}").status_code == 404
    # the dashboard due list and the register
    assert "PR-" in m.get("/o/acme/docs/").get_data(as_text=True)


def test_junk_never_causes_a_500(db, setup, client_for):
    m = client_for("manager")
    for url in ("/o/acme/docs/departures?start=junk&end=2026-13-45", "/o/acme/docs/departures?start=2026-12-01&end=2020-01-01",
                "/o/acme/docs/asof?date=xx&record=abc", "/o/acme/docs/asof?key=" + "x" * 500, "/o/acme/docs/d/99999",
                "/o/acme/docs/d/99999/print", "/o/acme/docs/d/99999/docx"):
        assert m.get(url).status_code in (200, 404), url
    r = post(m, "/o/acme/docs/settings", {"review_months": "abc", "stuck_days": "-1", "burst_factor": "nan"},
             "/o/acme/docs/settings")
    assert r.status_code == 422
    r = post(m, "/o/acme/docs/settings", {"review_months": "6", "standards": ["ISO 9001:2015"],
                                          **{k: "5" for k in ("frequency_grace_days", "stuck_days", "backfill_days",
                                                               "burst_window_days", "burst_factor", "burst_min")}},
             "/o/acme/docs/settings")
    assert r.status_code == 303
    r = post(m, "/o/acme/docs/generate", {"key": "no-such-process"}, "/o/acme/docs/")
    assert r.status_code == 303


def test_as_of_view_for_a_record(db, setup, client_for):
    tpl = library.adopted(db, setup.acme, "internal-audit")
    rec = records.create(db, setup.acme, tpl, dict(tpl.body["examples"][0]), setup.users["member"])
    db.commit()
    m = client_for("manager")
    page = m.get(f"/o/acme/docs/asof?record={rec.id}").get_data(as_text=True)
    assert "审核编号" in page or "Audit no" in page or "审核准则" in page  # the revision's data, with field labels
    assert tpl.body["workflow"]["states"][tpl.body["workflow"]["initial"]]["label"]["zh"] in page
    assert "did not exist yet" in m.get(f"/o/acme/docs/asof?record={rec.id}&date=2000-01-01&lang=en").get_data(as_text=True)
    other = records.create(db, setup.other, library.adopted(db, setup.other, "internal-audit"),
                           dict(tpl.body["examples"][0]), setup.users["outsider"])
    db.commit()
    assert m.get(f"/o/acme/docs/asof?record={other.id}").status_code == 404


def test_an_auditor_whose_window_expired_sees_nothing(db, setup, client_for):
    from datetime import datetime, timedelta, timezone

    from workbench.models import Membership

    a = client_for("auditor")
    assert a.get("/o/acme/docs/").status_code == 200
    m = db.exec(select(Membership).where(Membership.user_id == setup.users["auditor"].id)).one()
    m.valid_until = datetime.now(timezone.utc) - timedelta(minutes=1)
    db.add(m)
    db.commit()
    for url in ("/o/acme/docs/", "/o/acme/docs/departures", "/o/acme/docs/asof"):
        assert a.get(url).status_code == 404


def test_one_signature_approves_the_listed_drafts_all_or_nothing(db, setup, client_for):
    m = client_for("manager")
    post(m, "/o/acme/docs/generate", {}, "/o/acme/docs/")
    drafts = db.exec(select(ControlledDocument).where(ControlledDocument.org_id == setup.acme.id)).all()
    listed = [str(d.id) for d in drafts][:-1]  # the last one appeared after the page was read: not approved
    r = post(m, "/o/acme/docs/approve-drafts", {"password": "wrong", "doc": listed}, "/o/acme/docs/")
    assert r.status_code == 303
    assert all(db.get(ControlledDocument, d.id).status == "draft" for d in drafts)
    r = post(m, "/o/acme/docs/approve-drafts", {"password": PASSWORD, "doc": listed}, "/o/acme/docs/")
    assert r.status_code == 303
    db.expire_all()
    statuses = [db.get(ControlledDocument, d.id).status for d in drafts]
    assert statuses[:-1] == ["in_force"] * (len(drafts) - 1) and statuses[-1] == "draft"
    r = post(m, "/o/acme/docs/approve-drafts", {"password": PASSWORD, "doc": listed + ["x", "9" * 20]}, "/o/acme/docs/")
    assert r.status_code == 303 and "没有待批准的草稿" in m.get("/o/acme/docs/").get_data(as_text=True)
