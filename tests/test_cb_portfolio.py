"""The certification body's portfolio: access only through an active grant (none / revoked → 404), grants in
the client's chain, anomalies linking to their records, certificates, audit time on the engagement, the
weekly digest, registry facts."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlmodel import select

from conftest import csrf_from, login
from workbench import trail
from workbench.audit.models import Engagement
from workbench.cb import digest, grants
from workbench.cb.models import Certificate
from workbench.models import Event, Organization, Record
from workbench.templates import shipped_library


@pytest.fixture
def cbw(app, db, world):
    cb = Organization(slug="cqc", name="华认认证有限公司", kind="cb")
    db.add(cb)
    db.commit()
    world.cb = cb
    world.users["cb_staff"] = world.user("staff@cqc.test", "cb auditor", cb, "member")  # CB staff are members of the CB
    world.users["cb_manager"] = world.user("boss@cqc.test", "cb manager", cb, "manager")
    with app.test_request_context():
        world.grant = grants.grant(db, world.acme, "cqc", world.users["manager"])
        db.commit()
    t = world.add_template(shipped_library()["training-record"])
    now = datetime.now(timezone.utc)
    world.late = []
    for i in range(3):  # backfilled: activity 200 days before creation
        r = Record(org_id=world.acme.id, template_id=t.id, template_key=t.key, state="draft", data={"x": i},
                   title=f"培训 {i}", record_date=(now - timedelta(days=200)).date(), created_at=now - timedelta(minutes=i),
                   updated_at=now, created_by=world.users["member"].id)
        db.add(r)
        world.late.append(r)
    other = Record(org_id=world.other.id, template_id=t.id, template_key=t.key, state="draft", data={}, title="乙",
                   record_date=now.date(), created_at=now, updated_at=now)
    db.add(other)
    db.commit()
    world.other_record = other
    return world


def client(app, user):
    c = app.test_client()
    assert login(c, user.email).status_code == 302
    return c


def test_cb_user_sees_only_granted_clients(app, db, cbw):
    c = client(app, cbw.users["cb_staff"])
    page = c.get("/o/cqc/portfolio/").get_data(as_text=True)
    assert "甲公司" in page and "乙公司" not in page
    assert c.get("/o/cqc/portfolio/acme/").status_code == 200
    assert c.get("/o/cqc/portfolio/other/").status_code == 404  # never granted
    assert c.get("/o/cqc/portfolio/nosuch/").status_code == 404
    assert c.get(f"/o/cqc/portfolio/acme/r/{cbw.other_record.id}").status_code == 404  # another tenant's record via a granted client
    assert c.get("/o/acme/").status_code == 404  # no membership in the client itself


def test_revoked_grant_is_404_and_both_are_chain_events(app, db, cbw):
    staff = client(app, cbw.users["cb_staff"])
    assert staff.get(f"/o/cqc/portfolio/acme/r/{cbw.late[0].id}").status_code == 200
    mgr = client(app, cbw.users["manager"])
    page = mgr.get("/o/acme/certification").get_data(as_text=True)
    resp = mgr.post(f"/o/acme/certification/grants/{cbw.grant.id}/revoke", data={"csrf_token": csrf_from(page)})
    assert resp.status_code == 303
    assert staff.get("/o/cqc/portfolio/acme/").status_code == 404
    assert staff.get(f"/o/cqc/portfolio/acme/r/{cbw.late[0].id}").status_code == 404
    assert "甲公司" not in staff.get("/o/cqc/portfolio/").get_data(as_text=True)
    actions = [e.action for e in db.exec(select(Event).where(Event.org_id == cbw.acme.id).order_by(Event.seq)).all()]
    assert actions[-2:] == ["cb_grant", "cb_revoke"] or ("cb_grant" in actions and actions[-1] == "cb_revoke")
    assert trail.verify(db, cbw.acme.id, record_id=-1).ok  # the chain itself (the planted records bypass it)
    # a member (not manager) of the client cannot grant or revoke
    member = client(app, cbw.users["member"])
    tok = csrf_from(member.get("/o/acme/certification").get_data(as_text=True))
    assert member.post("/o/acme/certification/grant", data={"cb": "cqc", "csrf_token": tok}).status_code == 403


def test_portfolio_is_not_for_client_organizations(app, db, cbw):
    mgr = client(app, cbw.users["manager"])
    assert mgr.get("/o/acme/portfolio/").status_code == 404
    assert mgr.get("/o/acme/portfolio/acme/").status_code == 404


def test_anomaly_links_to_its_records(app, db, cbw):
    c = client(app, cbw.users["cb_staff"])
    page = c.get("/o/cqc/portfolio/").get_data(as_text=True)
    links = re.findall(r'href="(/o/cqc/portfolio/acme/anomaly\?key=[^"]+)"', page)
    assert links
    backfill = next(l for l in links if "backfilled" in l)
    detail = c.get(backfill.replace("&amp;", "&")).get_data(as_text=True)
    for r in cbw.late:
        assert f"/o/cqc/portfolio/acme/r/{r.id}" in detail
    assert c.get("/o/cqc/portfolio/acme/anomaly?key=nonsense").status_code == 404


def test_certificate_issue_and_status_change(app, db, cbw):
    boss = client(app, cbw.users["cb_manager"])
    tok = csrf_from(boss.get("/o/cqc/portfolio/acme/").get_data(as_text=True))
    resp = boss.post("/o/cqc/portfolio/acme/certificates", data={"csrf_token": tok, "standard": "ISO 9001:2015",
                                                                 "number": "CQC-Q-2024-001", "issue_date": "2024-02-29",
                                                                 "scope": "精密零件加工", "headcount": "40"})
    assert resp.status_code == 303
    cert = db.exec(select(Certificate).where(Certificate.number == "CQC-Q-2024-001")).one()
    dup = boss.post("/o/cqc/portfolio/acme/certificates", data={"csrf_token": tok, "standard": "ISO 14001:2015",
                                                                "number": "CQC-Q-2024-001", "issue_date": "2025-01-02",
                                                                "scope": "第二次输入的范围"})
    assert dup.status_code == 409 and "第二次输入的范围" in dup.get_data(as_text=True)  # the input is kept
    bad = boss.post("/o/cqc/portfolio/acme/certificates", data={"csrf_token": tok, "number": "X", "issue_date": "2025-02-30"})
    assert bad.status_code == 422
    assert cert.expiry_date == date(2027, 2, 28) and cert.cb_org_id == cbw.cb.id
    resp = boss.post(f"/o/cqc/portfolio/acme/certificates/{cert.id}/status",
                     data={"csrf_token": tok, "status": "suspended", "reason": "监督审核逾期"})
    assert resp.status_code == 303
    db.refresh(cert)
    assert cert.status == "suspended"
    staff = client(app, cbw.users["cb_staff"])  # an auditor of the body, not its manager
    assert staff.post("/o/cqc/portfolio/acme/certificates", data={"csrf_token": tok}).status_code in (400, 403)
    # the client sees its certificate and programme
    page = client(app, cbw.users["manager"]).get("/o/acme/certification").get_data(as_text=True)
    assert "CQC-Q-2024-001" in page and "2027-02-28" in page


def test_engagement_audit_time_and_slot(app, db, cbw):
    now = datetime.now(timezone.utc)
    e = Engagement(org_id=cbw.acme.id, title="监督审核", standards=["ISO 9001:2015", "ISO 14001:2015"], audit_type="initial",
                   period_start=date(2026, 1, 1), period_end=date(2026, 12, 31), access_from=now, access_until=now + timedelta(days=3))
    db.add(e)
    db.commit()
    mgr = client(app, cbw.users["manager"])
    tok = csrf_from(mgr.get(f"/o/acme/audit/e/{e.id}/programme").get_data(as_text=True))
    form = {"csrf_token": tok, "slot": "surveillance1", "full_time": "60", "part_time_hours": "0", "shifts": "1",
            "sites": "1", "std_0": "1", "std_1": "1", "complexity_1": "medium", "integration_percent": "15",
            "integration_reason": "一体化管理体系"}
    bad = dict(form, adj_pct_0="-40", adj_reason_0="")
    assert mgr.post(f"/o/acme/audit/e/{e.id}/programme", data=bad).status_code == 422  # a reduction without a reason
    assert mgr.post(f"/o/acme/audit/e/{e.id}/programme", data=form).status_code == 303
    db.refresh(e)
    assert e.programme_slot == "surveillance1" and e.audit_type == "surveillance"
    assert e.audit_time["initial"] == "9.5"  # (5 + 6) × 0.85 = 9.35 → 9.5
    staff = client(app, cbw.users["cb_staff"])
    page = staff.get(f"/o/cqc/portfolio/acme/e/{e.id}").get_data(as_text=True)
    assert "IAF MD 11" in page and "9.5" in page
    report = mgr.get(f"/o/acme/audit/e/{e.id}/report").get_data(as_text=True)
    assert "9.5" in report and "IAF MD 5" in report
    import io

    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(mgr.get(f"/o/acme/audit/e/{e.id}/report.xlsx").data))
    sheet = wb.worksheets[-1]
    assert any("9.5" in str(c.value) for row in sheet.iter_rows() for c in row)


def test_registry_facts_credit_code_checked(app, db, cbw):
    mgr = client(app, cbw.users["manager"])
    tok = csrf_from(mgr.get("/o/acme/certification").get_data(as_text=True))
    resp = mgr.post("/o/acme/certification/registry", data={"csrf_token": tok, "credit_code": "91350100M000100Y44"})
    assert resp.status_code == 422 and "91350100M000100Y44" in resp.get_data(as_text=True)
    db.refresh(cbw.acme)
    assert cbw.acme.credit_code is None
    mgr.post("/o/acme/certification/registry", data={"csrf_token": tok, "credit_code": "91350100m000100y43",
                                                     "discharge_permit_no": "91350100M000100Y43001P",
                                                     "discharge_permit_expiry": "2027-06-30"})
    db.refresh(cbw.acme)
    assert cbw.acme.credit_code == "91350100M000100Y43" and cbw.acme.discharge_permit_expiry == date(2027, 6, 30)
    page = client(app, cbw.users["cb_staff"]).get("/o/cqc/portfolio/acme/").get_data(as_text=True)
    assert "gsxt.gov.cn" in page and "permit.mee.gov.cn" in page and "91350100M000100Y43" in page


def test_weekly_digest_reports_only_new_anomalies(app, db, cbw):
    with app.test_request_context():
        first = digest.run(db, "cqc", date.today())
        db.commit()
        assert {d.user.email for d in first} == {"staff@cqc.test", "boss@cqc.test"}
        assert all("甲公司" in d.text and d.items >= 1 for d in first)
        assert digest.run(db, "cqc", date.today()) == []  # nothing new since
        assert digest.run(db, "nosuch", date.today()) == []
        # each staff member's digest is one e-mail in the notification outbox, queued once per ISO week
        from sqlmodel import select

        from workbench.notify.models import Outbox

        queued = db.exec(select(Outbox).where(Outbox.dedupe_key.startswith("cb-digest:"))).all()
        assert sorted(o.target for o in queued) == ["boss@cqc.test", "staff@cqc.test"]
        assert all(o.channel == "email" and "甲公司" in o.payload["text"] and o.payload["title"] for o in queued)
        assert all(d.delivery == "outbox" for d in first)


def test_an_insider_grant_without_its_chain_event_gives_no_access(app, db, cbw):
    """A grant row inserted behind the application's back, or a revocation erased from the row, does not count:
    the client's chain decides."""
    from workbench.cb.models import Grant

    other_mgr = cbw.users["outsider"]
    db.add(Grant(client_org_id=cbw.other.id, cb_org_id=cbw.cb.id, granted_by=other_mgr.id))  # no cb_grant event
    db.commit()
    staff = client(app, cbw.users["cb_staff"])
    assert staff.get("/o/cqc/portfolio/other/").status_code == 404
    with app.test_request_context():
        grants.revoke(db, cbw.acme, cbw.grant.id, cbw.users["manager"])
        db.commit()
    g = db.get(Grant, cbw.grant.id)
    g.revoked_at = None  # the insider "un-revokes" the row
    db.add(g)
    db.commit()
    assert staff.get("/o/cqc/portfolio/acme/").status_code == 404
    assert "甲公司" not in staff.get("/o/cqc/portfolio/").get_data(as_text=True)


def test_digest_command(app, db, cbw):
    cli = app.test_cli_runner()
    dry = cli.invoke(args=["portfolio", "digest", "--cb", "cqc", "--dry-run"])
    assert dry.exit_code == 0 and "甲公司" in dry.output and "dry run" in dry.output
    real = cli.invoke(args=["portfolio", "digest", "--cb", "cqc"])
    assert real.exit_code == 0 and "2 digest(s)" in real.output
    again = cli.invoke(args=["portfolio", "digest", "--cb", "cqc"])
    assert again.exit_code == 0 and "0 digest(s)" in again.output
    assert cli.invoke(args=["portfolio", "digest", "--today", "2026-02-30"]).exit_code != 0


def test_two_grants_made_at_once_end_with_one_revocation(app, db, cbw):
    """Two managers granting at the same moment may leave two open grants: revoking either ends the access."""
    from workbench.cb.models import Grant

    with app.test_request_context():
        twin = Grant(client_org_id=cbw.acme.id, cb_org_id=cbw.cb.id, granted_by=cbw.users["manager"].id)
        db.add(twin)
        db.flush()
        trail.append(db, cbw.acme.id, "cb_grant", actor=cbw.users["manager"], detail={"grant": twin.id, "cb": "cqc",
                                                                                       "cb_org_id": cbw.cb.id})
        db.commit()
        assert [c.slug for c in grants.clients(db, cbw.cb)] == ["acme"]  # listed once
        grants.revoke(db, cbw.acme, twin.id, cbw.users["manager"])
        db.commit()
        assert grants.active(db, cbw.acme.id, cbw.cb.id) is None
    assert client(app, cbw.users["cb_staff"]).get("/o/cqc/portfolio/acme/").status_code == 404


def test_client_dashboard_shows_overdue_and_upcoming_certification_audits(app, db, cbw):
    with app.test_request_context():
        from workbench.cb import certificates

        certificates.issue(db, cbw.acme, cbw.users["cb_manager"], standard="ISO 9001:2015", number="DASH-1", scope="",
                           issue_date=date.today() - timedelta(days=400), cb_org=cbw.cb)
        db.commit()
    page = client(app, cbw.users["member"]).get("/o/acme/?lang=en").get_data(as_text=True)
    assert "Certification audits due" in page and "DASH-1" in page and "Surveillance audit 1" in page
    assert "overdue" in page
