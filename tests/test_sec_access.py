"""Issue #10 items 1, 2, 6 and the membership part of 16: auditors read and write only inside an open
engagement (and its scope), nobody both works in and audits an organization, adding a person never reveals
who they are and needs their acceptance, and every membership change is an event in the chain."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from tests.conftest import PASSWORD, csrf_from, load_fixture, login
from workbench import members, records, trail
from workbench.audit import service
from workbench.audit.models import Check, Finding
from workbench.invitations import Invitation
from workbench.models import Attachment, Event, Membership, User, utcnow
from workbench.templates import shipped_library

KS = load_fixture("kitchen-sink.json")
DATA = {"batch_no": "B1", "inspected_on": "2026-01-05", "result": "pass", "quantity": 1}


def engagement(db, world, days_from: int, days_until: int, **kw):
    now = utcnow()
    fields = dict(title=f"audit {days_from}..{days_until}", standards=["ISO 9001:2015", "ISO 14001:2015", "ISO 45001:2018"],
                  audit_type="surveillance", period_start=now.date() - timedelta(days=365), period_end=now.date(),
                  scope_processes=[], scope_clauses=[], access_from=now + timedelta(days=days_from),
                  access_until=now + timedelta(days=days_until))
    fields.update(kw)
    e = service.create_engagement(db, world.acme, world.users["manager"], **fields)
    db.commit()
    return e


def put_on(db, world, e, who="auditor"):
    service.grant_auditor(db, e, world.users[who], world.users["manager"])
    db.commit()


@pytest.fixture
def acme(app, db, world):
    tpl = world.add_template(KS, world.acme)
    ca = world.add_template(shipped_library()["corrective-action"])
    with app.app_context():
        rec = records.create(db, world.acme, tpl, dict(DATA), world.users["member"])
        ca_rec = records.create(db, world.acme, ca, dict(ca.body["examples"][0]), world.users["manager"])
        db.add(Attachment(org_id=world.acme.id, record_id=rec.id, filename="a.pdf", content_type="application/pdf",
                          size=5, sha256="0" * 64, content=b"%PDF-"))
        db.commit()
    world.rec, world.ca_rec = rec, ca_rec
    world.att = db.exec(select(Attachment)).first()
    return world


def signed_in(app, email, password=PASSWORD):
    c = app.test_client()
    assert login(c, email, password).status_code == 302
    return c


def token(c, url="/"):
    return csrf_from(c.get(url, follow_redirects=True).get_data(as_text=True))


# --- item 1: per engagement, per request ------------------------------------------------------------------------


def test_auditor_between_an_ended_and_a_future_engagement_reads_nothing(app, db, acme):
    ended = engagement(db, acme, -90, -30)
    future = engagement(db, acme, 200, 260)
    put_on(db, acme, ended)
    put_on(db, acme, future)
    m = db.exec(select(Membership).where(Membership.user_id == acme.users["auditor"].id, Membership.role == "auditor")).one()
    assert m.valid_from < utcnow() < m.valid_until  # the membership spans both windows: that was the hole
    c = signed_in(app, acme.users["auditor"].email)
    for url in ["/o/acme/", f"/o/acme/r/{acme.rec.id}", f"/o/acme/attachments/{acme.att.id}", "/o/acme/p/kitchen-sink/",
                f"/o/acme/audit/e/{ended.id}/", f"/o/acme/audit/e/{ended.id}/r/{acme.rec.id}"]:
        assert c.get(url).status_code == 404, url
    tok = token(c, "/account/password")
    assert c.post(f"/o/acme/audit/e/{ended.id}/r/{acme.rec.id}/check", data={"csrf_token": tok}).status_code == 404
    assert c.post(f"/o/acme/audit/e/{ended.id}/findings", data={"csrf_token": tok, "grade": "minor",
                  "standard": "ISO 9001:2015", "clause": "8.6", "statement": "late", "evidence": str(acme.rec.id)}).status_code == 404
    db.expire_all()
    assert db.exec(select(Check)).all() == [] and db.exec(select(Finding)).all() == []


def test_with_one_open_engagement_the_ended_one_stays_closed(app, db, acme):
    ended = engagement(db, acme, -90, -30)
    current = engagement(db, acme, -1, 10)
    put_on(db, acme, ended)
    put_on(db, acme, current)
    c = signed_in(app, acme.users["auditor"].email)
    assert c.get(f"/o/acme/r/{acme.rec.id}").status_code == 200
    assert c.get(f"/o/acme/audit/e/{current.id}/").status_code == 200
    assert c.get(f"/o/acme/audit/e/{ended.id}/").status_code == 404
    tok = token(c, f"/o/acme/audit/e/{current.id}/")
    assert c.post(f"/o/acme/audit/e/{ended.id}/r/{acme.rec.id}/check", data={"csrf_token": tok}).status_code == 404
    assert c.post(f"/o/acme/audit/e/{current.id}/r/{acme.rec.id}/check", data={"csrf_token": tok}).status_code == 303
    db.expire_all()
    assert [ch.engagement_id for ch in db.exec(select(Check)).all()] == [current.id]


def test_the_window_is_checked_on_every_request(app, db, acme):
    e = engagement(db, acme, -1, 10)
    put_on(db, acme, e)
    c = signed_in(app, acme.users["auditor"].email)
    assert c.get(f"/o/acme/audit/e/{e.id}/").status_code == 200
    e = db.get(type(e), e.id)
    e.access_until = utcnow() - timedelta(seconds=1)  # the window closes while the auditor is signed in
    db.add(e)
    db.commit()
    assert c.get(f"/o/acme/audit/e/{e.id}/").status_code == 404
    assert c.get(f"/o/acme/r/{acme.rec.id}").status_code == 404


def test_auditor_reads_only_the_engagements_scope(app, db, acme):
    e = engagement(db, acme, -1, 10, scope_processes=["kitchen-sink"])
    put_on(db, acme, e)
    c = signed_in(app, acme.users["auditor"].email)
    assert c.get(f"/o/acme/r/{acme.rec.id}").status_code == 200
    assert c.get(f"/o/acme/attachments/{acme.att.id}").status_code == 200
    assert c.get(f"/o/acme/r/{acme.ca_rec.id}").status_code == 404  # corrective-action: outside the listed processes
    assert c.get("/o/acme/p/corrective-action/").status_code == 404
    assert c.get(f"/o/acme/audit/e/{e.id}/r/{acme.ca_rec.id}").status_code == 404
    # managers are not limited by an engagement's scope
    m = signed_in(app, acme.users["manager"].email)
    assert m.get(f"/o/acme/r/{acme.ca_rec.id}").status_code == 200


def test_scope_by_standard_when_no_processes_are_listed(app, db, acme):
    cites = {c["standard"] for c in KS["clauses"]}
    other = next(s for s in ("ISO 9001:2015", "ISO 14001:2015", "ISO 45001:2018") if s not in cites)
    e = engagement(db, acme, -1, 10, standards=[other])
    put_on(db, acme, e)
    c = signed_in(app, acme.users["auditor"].email)
    assert c.get(f"/o/acme/r/{acme.rec.id}").status_code == 404


# --- item 2: independence, both directions ---------------------------------------------------------------------


def test_an_auditor_of_an_open_engagement_cannot_be_made_a_member(app, db, acme, client_for):
    e = engagement(db, acme, -1, 10)
    outside = acme.user("lead@cb.test", "外审组长", None, None)
    service.grant_auditor(db, e, outside, acme.users["manager"])
    db.commit()
    m = client_for("manager")
    for role in ("member", "manager", "consultant"):
        resp = m.post("/o/acme/members", data={"csrf_token": token(m, "/o/acme/members"), "email": "lead@cb.test", "role": role})
        assert resp.status_code == 422, role
    with pytest.raises(members.MembershipError):
        members.grant(db, acme.acme, outside, "member")
    assert {mm.role for mm in db.exec(select(Membership).where(Membership.user_id == outside.id)).all()} == {"auditor"}


def test_accepting_a_staff_invitation_after_joining_an_audit_team_is_refused(app, db, acme, client_for):
    outside = acme.user("lead@cb.test", "外审组长", None, None)
    m = client_for("manager")
    assert m.post("/o/acme/members", data={"csrf_token": token(m, "/o/acme/members"), "email": "lead@cb.test",
                                           "role": "member"}).status_code == 303
    e = engagement(db, acme, -1, 10)
    service.grant_auditor(db, e, outside, acme.users["manager"])  # meanwhile on the audit team
    db.commit()
    c = signed_in(app, "lead@cb.test")
    page = c.get("/invitations").get_data(as_text=True)
    iid = re.search(r'name="invitation" value="(\d+)"', page).group(1)
    resp = c.post("/invitations", data={"csrf_token": csrf_from(page), "invitation": iid, "decision": "accept"})
    assert resp.status_code == 422
    assert {mm.role for mm in db.exec(select(Membership).where(Membership.user_id == outside.id)).all()} == {"auditor"}


def test_a_member_cannot_be_put_on_an_audit_team(db, acme):
    e = engagement(db, acme, -1, 10)
    with pytest.raises(service.AuditError):
        service.grant_auditor(db, e, acme.users["member"], acme.users["manager"])


def test_legacy_rows_holding_both_roles_do_not_make_an_auditor(app, db, acme):
    e = engagement(db, acme, -1, 10)
    put_on(db, acme, e)
    db.add(Membership(user_id=acme.users["auditor"].id, org_id=acme.acme.id, role="member"))  # written behind our back
    db.commit()
    c = signed_in(app, acme.users["auditor"].email)
    resp = c.post(f"/o/acme/audit/e/{e.id}/r/{acme.rec.id}/check", data={"csrf_token": token(c, "/o/acme/")})
    assert resp.status_code in (403, 404)
    assert db.exec(select(Check)).all() == []


# --- item 6: no name disclosure, acceptance needed ---------------------------------------------------------------


def _add(client, email, **extra):
    return client.post("/o/other/members", data={"csrf_token": token(client, "/o/other/members"), "email": email,
                                                 "role": "member", **extra}, follow_redirects=True)


def test_adding_an_existing_account_reveals_nothing_and_waits_for_acceptance(app, db, acme, client_for):
    stranger = client_for("outsider")  # manager of the other organization
    known = _add(stranger, acme.users["manager"].email)
    unknown = _add(stranger, "nobody@nowhere.test")
    assert known.status_code == unknown.status_code == 200
    assert "manager of acme" not in known.get_data(as_text=True)
    flash = lambda r, email: re.search(r'class="flash[^"]*"[^>]*>(.*?)</', r.get_data(as_text=True), re.S).group(1).replace(email, "@")  # noqa: E731
    assert flash(known, acme.users["manager"].email) == flash(unknown, "nobody@nowhere.test")
    # a short initial password is refused for both alike (else the answer would tell which address has an account)
    assert _add(stranger, acme.users["member"].email, name="x", password="short").status_code == \
        _add(stranger, "ghost@nowhere.test", name="x", password="short").status_code == 422
    uid = acme.users["manager"].id
    assert db.exec(select(Membership).where(Membership.user_id == uid, Membership.org_id == acme.other.id)).first() is None
    # the person sees the invitation after signing in, and only their acceptance makes them a member
    c = signed_in(app, acme.users["manager"].email)
    page = c.get("/invitations").get_data(as_text=True)
    assert "乙公司" in page
    iid = re.search(r'name="invitation" value="(\d+)"', page).group(1)
    assert c.post("/invitations", data={"csrf_token": csrf_from(page), "invitation": iid, "decision": "accept"}).status_code == 303
    assert db.exec(select(Membership).where(Membership.user_id == uid, Membership.org_id == acme.other.id)).one().role == "member"
    # nobody else can answer someone's invitation
    inv2 = _add(stranger, acme.users["member"].email)
    assert inv2.status_code == 200
    other_inv = db.exec(select(Invitation).where(Invitation.email == acme.users["member"].email)).one()
    resp = c.post("/invitations", data={"csrf_token": csrf_from(page), "invitation": other_inv.id, "decision": "accept"})
    assert resp.status_code == 404


def test_auditor_invitation_does_not_name_the_person(app, db, acme, client_for):
    e = engagement(db, acme, -1, 10)
    outside = acme.user("lead@cb.test", "外审组长", None, None)
    m = client_for("manager")
    resp = m.post(f"/o/acme/audit/e/{e.id}/team", data={"csrf_token": token(m, f"/o/acme/audit/e/{e.id}/"),
                                                         "email": "lead@cb.test"}, follow_redirects=True)
    assert resp.status_code == 200 and "外审组长" not in resp.get_data(as_text=True)
    resp2 = m.post(f"/o/acme/audit/e/{e.id}/team", data={"csrf_token": token(m, f"/o/acme/audit/e/{e.id}/"),
                                                          "email": "ghost@cb.test"}, follow_redirects=True)
    assert resp2.status_code == 200
    assert not service.on_team(db, e, outside.id)
    page = m.get(f"/o/acme/audit/e/{e.id}/").get_data(as_text=True)
    assert "lead@cb.test" in page and "ghost@cb.test" in page and "外审组长" not in page  # pending, by address only
    c = signed_in(app, "lead@cb.test")
    assert c.get(f"/o/acme/audit/e/{e.id}/").status_code == 404  # not before accepting
    page = c.get("/invitations").get_data(as_text=True)
    iid = re.search(r'name="invitation" value="(\d+)"', page).group(1)
    c.post("/invitations", data={"csrf_token": csrf_from(page), "invitation": iid, "decision": "accept"})
    assert c.get(f"/o/acme/audit/e/{e.id}/").status_code == 200


# --- item 16 (memberships): every change is an event -------------------------------------------------------------


def test_membership_changes_are_chained(app, db, acme, client_for):
    m = client_for("manager")
    m.post("/o/acme/members", data={"csrf_token": token(m, "/o/acme/members"), "email": "new@acme.test", "role": "member",
                                    "name": "新员工", "password": "long enough pw"})
    c = signed_in(app, "new@acme.test", "long enough pw")
    page = c.get("/invitations").get_data(as_text=True)
    iid = re.search(r'name="invitation" value="(\d+)"', page).group(1)
    c.post("/invitations", data={"csrf_token": csrf_from(page), "invitation": iid, "decision": "accept"})
    new = db.exec(select(User).where(User.email == "new@acme.test")).one()
    mid = db.exec(select(Membership).where(Membership.user_id == new.id)).one().id
    m.post("/o/acme/members", data={"csrf_token": token(m, "/o/acme/members"), "remove": mid})
    actions = [e.action for e in db.exec(select(Event).where(Event.org_id == acme.acme.id).order_by(Event.seq)).all()]
    for a in ("membership_invite", "membership_add", "membership_accept", "membership_remove"):
        assert a in actions, a
    assert trail.verify(db, acme.acme.id).ok
    removed = db.exec(select(Event).where(Event.action == "membership_remove")).one()
    assert removed.detail == {"membership": mid, "user": new.id, "role": "member"}
