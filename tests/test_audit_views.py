"""The auditor view through the web: a manager opens an engagement and grants access; an auditor samples,
reads the evidence, raises a nonconformity; the organization answers it with a corrective action; the
auditor closes it; the report exports. And the boundaries: auditors never change records or grants, access
ends with the window or a revocation, and other engagements and organizations stay invisible."""
from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlmodel import select

from tests.conftest import csrf_from, load_fixture
from tests.sample_frames import frame_of, redraw
from workbench import records
from workbench.audit import frames, sampling
from workbench.audit.models import Check, Engagement, Finding, Sample, TeamMember
from workbench.models import Event, Membership, Record
from workbench.templates import shipped_library
from workbench.tenancy import POLICIES

KS = load_fixture("kitchen-sink.json")
TODAY = date.today()


@pytest.fixture
def acme(app, db, world):
    """acme with 40 inspection records over the last months and one corrective-action record; "other" with
    records of its own."""
    tpl = world.add_template(KS, world.acme)
    ca = world.add_template(shipped_library()["corrective-action"])
    with app.app_context():
        recs = [records.create(db, world.acme, tpl, {"batch_no": f"B{i:03d}", "inspected_on": (TODAY - timedelta(days=3 * i)).isoformat(),
                                                     "result": "pass", "quantity": 5}, world.users["member"]) for i in range(40)]
        records.create(db, world.other, tpl, {"batch_no": "OTHER", "inspected_on": TODAY.isoformat(), "result": "pass",
                                              "quantity": 1}, world.users["outsider"])
        body = ca.body
        ca_rec = records.create(db, world.acme, ca, dict(body["examples"][0], ca_no="CA-AUDIT-1"), world.users["manager"])
        db.commit()
    world.recs, world.ca = recs, ca_rec
    return world


def token(client, url="/o/acme/"):
    page = client.get(url, follow_redirects=True)  # auditors land on their engagement
    return csrf_from(page.get_data(as_text=True))


def create_engagement(client, **overrides) -> int:
    form = {"csrf_token": token(client, "/o/acme/audit/new"), "title": "2026 监督审核", "audit_body": "某认证机构",
            "standards": ["ISO 9001:2015", "ISO 14001:2015"], "audit_type": "surveillance",
            "period_start": (TODAY - timedelta(days=365)).isoformat(), "period_end": TODAY.isoformat(),
            "scope_clauses": "9001 8.6, 9.2", "access_from": (TODAY - timedelta(days=1)).isoformat(),
            "access_until": (TODAY + timedelta(days=10)).isoformat()}
    form.update(overrides)
    resp = client.post("/o/acme/audit/new", data=form)
    assert resp.status_code == 303, resp.get_data(as_text=True)[:3000]
    return int(re.search(r"/audit/e/(\d+)/", resp.headers["Location"]).group(1))


def grant(client, eid, email, accept=True):
    """The manager invites; the invited person (if they have an account) accepts after signing in."""
    resp = client.post(f"/o/acme/audit/e/{eid}/team", data={"csrf_token": token(client, f"/o/acme/audit/e/{eid}/"), "email": email})
    if accept:
        accept_invitations(client.application, email)
    return resp


def accept_invitations(app, email):
    from tests.conftest import PASSWORD, login

    c = app.test_client()
    if login(c, email, PASSWORD).status_code != 302:
        return
    page = c.get("/invitations").get_data(as_text=True)
    for iid in re.findall(r'name="invitation" value="(\d+)"', page):
        c.post("/invitations", data={"csrf_token": csrf_from(page), "invitation": iid, "decision": "accept"})


@pytest.fixture
def engaged(acme, client_for, db):
    """An engagement with acme's auditor on the team; returns (manager client, auditor client, engagement id)."""
    manager = client_for("manager")
    eid = create_engagement(manager)
    assert grant(manager, eid, acme.users["auditor"].email).status_code == 303
    return manager, client_for("auditor"), eid


def draw(client, eid, **form) -> Sample:
    data = {"csrf_token": token(client, f"/o/acme/audit/e/{eid}/samples/new"), "process": "kitchen-sink",
            "start": (TODAY - timedelta(days=365)).isoformat(), "end": TODAY.isoformat(), "kind": "sqrt",
            "audit_type": "initial", "stratify": "", "seed": "", "_action": "draw"}
    data.update(form)
    resp = client.post(f"/o/acme/audit/e/{eid}/samples/new", data=data)
    assert resp.status_code == 303, resp.get_data(as_text=True)[:3000]
    sid = int(resp.headers["Location"].rsplit("/", 1)[1])
    return sid


def test_every_audit_route_has_a_policy(app):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("audit.")]
    assert len(rules) >= 18
    for rule in rules:
        assert getattr(app.view_functions[rule.endpoint], "policy", None) in POLICIES, rule.rule
        assert rule.rule.startswith("/o/<org>/audit"), rule.rule


def test_manager_creates_engagement_and_grants_time_boxed_access(acme, client_for, db):
    manager = client_for("manager")
    eid = create_engagement(manager)
    e = db.get(Engagement, eid)
    assert e.standards == ["ISO 9001:2015", "ISO 14001:2015"] and e.audit_type == "surveillance"
    assert {"standard": "ISO 9001:2015", "clause": "8.6"} in e.scope_clauses
    assert {"standard": "ISO 14001:2015", "clause": "9.2"} in e.scope_clauses  # a bare clause: each standard having it
    assert grant(manager, eid, acme.users["auditor"].email).status_code == 303
    m = db.exec(select(Membership).where(Membership.user_id == acme.users["auditor"].id, Membership.role == "auditor")).one()
    db.refresh(m)
    assert m.engagement_id == eid and m.valid_from == e.access_from and m.valid_until == e.access_until
    assert e.access_until - e.access_from == timedelta(days=12)  # from the start of day 1 to the end of day 11
    ev = db.exec(select(Event).where(Event.action == "audit_grant")).one()
    assert ev.detail["engagement"] == eid and ev.actor_id == acme.users["manager"].id
    page = manager.get(f"/o/acme/audit/e/{eid}/").get_data(as_text=True)
    assert acme.users["auditor"].email in page
    # unknown accounts and the organization's own staff cannot be made auditors
    grant(manager, eid, "nobody@nowhere.test")
    grant(manager, eid, acme.users["member"].email)
    assert len(db.exec(select(TeamMember).where(TeamMember.engagement_id == eid)).all()) == 1
    # bad input is shown again with the reasons, nothing stored
    resp = manager.post("/o/acme/audit/new", data={"csrf_token": token(manager, "/o/acme/audit/new"), "title": "x",
                                                   "standards": ["ISO 9001:2015"], "audit_type": "initial",
                                                   "period_start": "2026-05-01", "period_end": "2026-01-01",
                                                   "scope_clauses": "9001 99.9", "access_from": "2026-01-01",
                                                   "access_until": "2026-01-02"})
    assert resp.status_code == 422 and "99.9" in resp.get_data(as_text=True)
    assert len(db.exec(select(Engagement)).all()) == 1


def test_editing_the_window_moves_the_auditors_access(acme, engaged, db):
    manager, auditor, eid = engaged
    new_until = TODAY + timedelta(days=40)
    form = {"csrf_token": token(manager, f"/o/acme/audit/e/{eid}/edit"), "title": "2026 监督审核（延期）",
            "standards": ["ISO 9001:2015"], "audit_type": "surveillance", "period_start": (TODAY - timedelta(days=365)).isoformat(),
            "period_end": TODAY.isoformat(), "scope_clauses": "", "access_from": (TODAY - timedelta(days=1)).isoformat(),
            "access_until": new_until.isoformat()}
    assert manager.post(f"/o/acme/audit/e/{eid}/edit", data=form).status_code == 303
    db.expire_all()
    e = db.get(Engagement, eid)
    m = db.exec(select(Membership).where(Membership.user_id == acme.users["auditor"].id)).one()
    assert e.title.endswith("（延期）") and e.scope_clauses == [] and m.valid_until == e.access_until
    assert e.access_until.date() in (new_until, new_until + timedelta(days=1))
    assert auditor.post(f"/o/acme/audit/e/{eid}/edit", data=dict(form, csrf_token=token(auditor), title="x")).status_code == 403


def test_auditor_samples_checks_raises_nc_and_closes_it_after_the_answer(acme, engaged, db):
    manager, auditor, eid = engaged
    # the auditor sees the engagement; a preview tells population and sample size
    assert "2026 监督审核" in auditor.get("/o/acme/audit/").get_data(as_text=True)
    preview = auditor.post(f"/o/acme/audit/e/{eid}/samples/new", data={
        "csrf_token": token(auditor, f"/o/acme/audit/e/{eid}/"), "process": "kitchen-sink",
        "start": (TODAY - timedelta(days=365)).isoformat(), "end": TODAY.isoformat(), "kind": "sqrt", "audit_type": "initial",
        "_action": "preview"}).get_data(as_text=True)
    assert re.search(r"40[^0-9]+7", preview)  # 40 records, ⌈√40⌉ = 7
    sid = draw(auditor, eid, seed="4242")
    s = db.get(Sample, sid)
    assert s.seed == 4242 and s.population_size == 40 and len(s.drawn) == 7 and s.created_by == acme.users["auditor"].id
    assert s.drawn == redraw(db, s)
    page = auditor.get(f"/o/acme/audit/e/{eid}/s/{sid}").get_data(as_text=True)
    assert "4242" in page and all(f"#{rid}" in page for rid in s.drawn)
    assert "✔" in auditor.get(f"/o/acme/audit/e/{eid}/s/{sid}/verify").get_data(as_text=True)
    # draw more: the first seven stay
    first = list(s.drawn)
    auditor.post(f"/o/acme/audit/e/{eid}/s/{sid}/more", data={"csrf_token": token(auditor, f"/o/acme/audit/e/{eid}/s/{sid}"), "count": "3"})
    db.expire_all()
    assert db.get(Sample, sid).drawn[:7] == first and len(db.get(Sample, sid).drawn) == 10

    # the evidence: the record as the organization saw it, with its history and chain status
    rid = first[0]
    ev_page = auditor.get(f"/o/acme/audit/e/{eid}/r/{rid}?sample={sid}").get_data(as_text=True)
    rec = db.get(Record, rid)
    assert rec.data["batch_no"] in ev_page and "chain-status" in ev_page and "事件链已验证" in ev_page
    assert "mark-conforming" in ev_page and f"/o/acme/r/{rid}/revisions/1" in ev_page
    # conforming
    auditor.post(f"/o/acme/audit/e/{eid}/r/{first[1]}/check", data={"csrf_token": token(auditor), "note": "OK"})
    assert db.exec(select(Check).where(Check.record_id == first[1])).one().verdict == "conforming"
    # a finding with an unknown clause is refused and the form is shown again
    bad = auditor.post(f"/o/acme/audit/e/{eid}/findings", data={"csrf_token": token(auditor), "record": rid, "evidence": rid,
                                                                "sample": sid, "grade": "minor", "standard": "ISO 9001:2015",
                                                                "clause": "8.99", "statement": "未记录量具编号"})
    assert bad.status_code == 422 and "8.99" in bad.get_data(as_text=True) and "未记录量具编号" in bad.get_data(as_text=True)
    # a minor NC
    resp = auditor.post(f"/o/acme/audit/e/{eid}/findings", data={"csrf_token": token(auditor), "record": rid, "evidence": rid,
                                                                 "sample": sid, "grade": "minor", "standard": "ISO 9001:2015",
                                                                 "clause": "8.6", "statement": "放行记录缺少放行人签字"})
    assert resp.status_code == 303
    f = db.exec(select(Finding)).one()
    assert (f.grade, f.clause, f.evidence, f.status, f.sample_id) == ("minor", "8.6", [rid], "open", sid)
    # the organization sees it on the record, and answers with a corrective action
    assert "放行记录缺少放行人签字" not in manager.get(f"/o/acme/r/{rid}").get_data(as_text=True)  # statement stays in the audit
    assert f"/o/acme/audit/e/{eid}/f/{f.id}" in manager.get(f"/o/acme/r/{rid}").get_data(as_text=True)
    fpage = manager.get(f"/o/acme/audit/e/{eid}/f/{f.id}").get_data(as_text=True)
    assert "/o/acme/p/corrective-action/new?" in fpage and "link.source_type=external_audit" in fpage
    # the auditor cannot answer for the organization; the manager cannot close their own finding
    assert auditor.post(f"/o/acme/audit/e/{eid}/f/{f.id}/answer", data={"csrf_token": token(auditor), "record_id": acme.ca.id}).status_code == 403
    manager.post(f"/o/acme/audit/e/{eid}/f/{f.id}/answer", data={"csrf_token": token(manager), "record_id": rid})  # not a CA
    db.expire_all()
    assert db.get(Finding, f.id).status == "open"
    manager.post(f"/o/acme/audit/e/{eid}/f/{f.id}/answer", data={"csrf_token": token(manager), "record_id": acme.ca.id, "note": "已培训"})
    db.expire_all()
    assert (db.get(Finding, f.id).status, db.get(Finding, f.id).corrective_action_id) == ("answered", acme.ca.id)
    assert manager.post(f"/o/acme/audit/e/{eid}/f/{f.id}/verify", data={"csrf_token": token(manager), "decision": "accept"}).status_code == 403
    auditor.post(f"/o/acme/audit/e/{eid}/f/{f.id}/verify", data={"csrf_token": token(auditor), "decision": "accept", "note": "有效"})
    db.expire_all()
    closed = db.get(Finding, f.id)
    assert closed.status == "closed" and closed.closed_by == acme.users["auditor"].id and closed.closure_note == "有效"
    actions = [e.action for e in db.exec(select(Event).where(Event.org_id == acme.acme.id).order_by(Event.seq)).all()]
    assert actions[-3:] == ["audit_finding", "audit_finding_answer", "audit_finding_close"]

    # the report: printable page and xlsx with the NC and the seed
    html = auditor.get(f"/o/acme/audit/e/{eid}/report").get_data(as_text=True)
    assert "放行记录缺少放行人签字" in html and "4242" in html
    x = auditor.get(f"/o/acme/audit/e/{eid}/report.xlsx")
    assert x.status_code == 200 and x.mimetype.endswith("spreadsheetml.sheet")
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(x.data))
    cells = {str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None}
    assert "放行记录缺少放行人签字" in cells and "4242" in cells and "2026 监督审核" in cells
    assert len(wb.sheetnames) == 7  # scope, samples, populations, findings, coverage, readiness, departures
    # the frozen population is in the file: the sample can be re-drawn from the export alone
    pop = [row for row in wb.worksheets[2].iter_rows(min_row=2, values_only=True)]
    ids = [r[2] for r in pop if r[0] == 1]
    assert [ids[p] for _s, p in frames.draw_places({"": len(ids)}, int(pop[0][1]), 10)] == db.get(Sample, sid).drawn


def test_coverage_and_readiness_pages(acme, engaged):
    _manager, auditor, eid = engaged
    cov = auditor.get(f"/o/acme/audit/e/{eid}/coverage").get_data(as_text=True)
    assert "8.6" in cov and "cov-empty" in cov and "cov-some" in cov
    # each cell says what was expected and found, in the page's language (title and aria-label alike)
    titles = re.findall(r'title="([^"]*)" aria-label="([^"]*)"', cov)
    assert titles and all(t == a for t, a in titles)
    assert any(re.fullmatch(r"应有 \d+，实有 \d+( · .+)?", t) for t, _a in titles), titles[:5]
    assert any(t.endswith((" · 本月尚未结束", " · 未到期", " · 尚未到期")) for t, _a in titles), titles[:5]
    link = re.search(r'href="(/o/acme/audit/e/\d+/samples/new\?[^"]*clause=8.6[^"]*)"', cov).group(1).replace("&amp;", "&")
    form = auditor.get(link).get_data(as_text=True)  # a cell opens the sample form for that clause and month
    assert 'value="8.6"' in form and 'value="ISO 9001:2015" selected' in form
    assert auditor.get(f"/o/acme/audit/e/{eid}/coverage?detail=1").status_code == 200
    ready = auditor.get(f"/o/acme/audit/e/{eid}/readiness").get_data(as_text=True)
    assert "readiness-verdict" in ready
    assert auditor.get("/o/acme/audit/readiness?start=2026-01-01&end=2026-12-31").status_code == 200


def test_auditor_cannot_change_records_or_grants(acme, engaged, app, db):
    manager, auditor, eid = engaged
    rec = acme.recs[0]
    values = {"org": "acme", "key": "kitchen-sink", "record_id": rec.id, "number": 1, "attachment_id": 1, "eid": eid,
              "user_id": acme.users["auditor"].id, "fid": 1, "sid": 1}
    tok = token(auditor)
    posts = [r for r in app.url_map.iter_rules() if "POST" in r.methods and (r.endpoint.startswith("records.")
             or r.endpoint in ("audit.new_engagement", "audit.edit_engagement", "audit.add_auditor", "audit.revoke_auditor",
                               "audit.answer_finding"))]
    assert len(posts) >= 9
    before = (db.exec(select(Record).where(Record.id == rec.id)).one().revision, len(db.exec(select(Event)).all()))
    for rule in posts:
        url = app.url_map.bind("localhost").build(rule.endpoint, {a: values[a] for a in rule.arguments})
        resp = auditor.post(url, data={"csrf_token": tok, "name": "submit", "batch_no": "X", "reason": "x", "title": "x",
                                       "email": "someone@else.test", "record_id": acme.ca.id})
        assert resp.status_code in (403, 404), (url, resp.status_code)
    db.expire_all()
    assert (db.get(Record, rec.id).revision, len(db.exec(select(Event)).all())) == before
    assert db.get(Record, rec.id).state == "draft"
    # the auditor's window was not touched by their own attempt to revoke themselves
    m = db.exec(select(Membership).where(Membership.user_id == acme.users["auditor"].id)).one()
    assert m.valid_until > datetime.now(timezone.utc)
    # the manager, on the other hand, cannot draw samples or raise findings: those are the auditors'
    assert manager.post(f"/o/acme/audit/e/{eid}/samples/new", data={"csrf_token": token(manager)}).status_code == 403
    assert manager.post(f"/o/acme/audit/e/{eid}/findings", data={"csrf_token": token(manager)}).status_code == 403


@pytest.mark.parametrize("role", ["member", "consultant"])
def test_staff_without_audit_role_get_403(acme, engaged, client_for, role):
    _m, _a, eid = engaged
    c = client_for(role)
    assert c.get("/o/acme/audit/").status_code == 403
    assert c.get(f"/o/acme/audit/e/{eid}/").status_code == 403


def test_access_ends_with_the_window(acme, engaged, db):
    _manager, auditor, eid = engaged
    assert auditor.get(f"/o/acme/audit/e/{eid}/").status_code == 200
    m = db.exec(select(Membership).where(Membership.user_id == acme.users["auditor"].id)).one()
    m.valid_until = datetime.now(timezone.utc) - timedelta(seconds=1)
    db.add(m)
    db.commit()
    for url in ["/o/acme/", "/o/acme/audit/", f"/o/acme/audit/e/{eid}/", f"/o/acme/audit/e/{eid}/coverage",
                f"/o/acme/audit/e/{eid}/report.xlsx", f"/o/acme/r/{acme.recs[0].id}", "/o/acme/p/kitchen-sink/"]:
        assert auditor.get(url).status_code == 404, url


def test_window_not_yet_open_means_no_access(acme, client_for):
    manager = client_for("manager")
    eid = create_engagement(manager, access_from=(TODAY + timedelta(days=3)).isoformat(),
                            access_until=(TODAY + timedelta(days=5)).isoformat())
    grant(manager, eid, acme.users["auditor"].email)
    auditor = client_for("auditor")
    assert auditor.get("/o/acme/").status_code == 404
    assert auditor.get(f"/o/acme/audit/e/{eid}/").status_code == 404


def test_revoking_ends_access_at_once(acme, engaged, db):
    manager, auditor, eid = engaged
    uid = acme.users["auditor"].id
    resp = manager.post(f"/o/acme/audit/e/{eid}/team/{uid}/revoke", data={"csrf_token": token(manager, f"/o/acme/audit/e/{eid}/")})
    assert resp.status_code == 303
    assert auditor.get("/o/acme/").status_code == 404
    row = db.exec(select(TeamMember).where(TeamMember.user_id == uid)).one()
    assert row.revoked_at is not None and row.revoked_by == acme.users["manager"].id  # kept: who had access, until when
    assert db.exec(select(Event).where(Event.action == "audit_revoke")).one().detail["auditor"] == uid
    # granted again: access is back
    grant(manager, eid, acme.users["auditor"].email)
    assert auditor.get(f"/o/acme/audit/e/{eid}/").status_code == 200


def test_auditor_sees_only_their_engagements_and_organization(acme, engaged, client_for, db, world):
    manager, auditor, eid = engaged
    other_eid = create_engagement(manager, title="另一次审核")
    assert "另一次审核" not in auditor.get("/o/acme/audit/").get_data(as_text=True)
    for url in [f"/o/acme/audit/e/{other_eid}/", f"/o/acme/audit/e/{other_eid}/coverage", f"/o/acme/audit/e/{other_eid}/report.xlsx"]:
        assert auditor.get(url).status_code == 404
    assert auditor.post(f"/o/acme/audit/e/{other_eid}/samples/new", data={"csrf_token": token(auditor)}).status_code == 404
    # an engagement of organization "other"
    e = Engagement(org_id=world.other.id, title="乙公司审核", standards=["ISO 9001:2015"], audit_type="initial",
                   period_start=TODAY - timedelta(days=30), period_end=TODAY,
                   access_from=datetime.now(timezone.utc), access_until=datetime.now(timezone.utc) + timedelta(days=3))
    db.add(e)
    db.commit()
    for url in ["/o/other/audit/", f"/o/other/audit/e/{e.id}/", f"/o/acme/audit/e/{e.id}/", f"/o/other/audit/e/{e.id}/report.xlsx"]:
        assert auditor.get(url).status_code == 404, url
    # and acme's records cannot be cited as evidence through the other organization, nor other's in acme
    foreign = db.exec(select(Record).where(Record.org_id == world.other.id)).first()
    resp = auditor.post(f"/o/acme/audit/e/{eid}/findings", data={"csrf_token": token(auditor), "grade": "observation",
                                                                 "standard": "ISO 9001:2015", "clause": "8.6",
                                                                 "statement": "x", "evidence": str(foreign.id)})
    assert resp.status_code == 422 and not db.exec(select(Finding)).all()
    assert auditor.get(f"/o/acme/audit/e/{eid}/r/{foreign.id}").status_code == 404


def test_verify_page_and_command_report_a_tampered_sample(acme, engaged, db, app):
    _manager, auditor, eid = engaged
    sid = draw(auditor, eid, kind="fixed", n="5", seed="77")
    cli = app.test_cli_runner()
    ok = cli.invoke(args=["audit", "verify", "--org", "acme"])
    assert ok.exit_code == 0 and "1 verified, 0 failed" in ok.output
    s = db.get(Sample, sid)
    s.drawn = list(reversed(s.drawn))
    db.add(s)
    db.commit()
    page = auditor.get(f"/o/acme/audit/e/{eid}/s/{sid}/verify").get_data(as_text=True)
    assert 'class="verify bad"' in page
    bad = cli.invoke(args=["audit", "verify", "--sample", str(sid)])
    assert bad.exit_code == 1 and "0 verified, 1 failed" in bad.output


def test_stratified_sample_through_the_web(acme, engaged, db):
    _manager, auditor, eid = engaged
    sid = draw(auditor, eid, kind="percent", percent="5", stratify="month", seed="9")
    s = db.get(Sample, sid)
    ids, strata = frame_of(db, s)
    months = set(strata)
    assert len(months) >= 4 and len(s.drawn) == max(2, len(months))
    assert {strata[ids.index(i)] for i in s.drawn} == months
