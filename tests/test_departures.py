"""The 两张皮 detector finds departures seeded into the data, and none in a clean set."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
from sqlmodel import select

from conftest import PASSWORD
from workbench import library, records, trail, workflow
from workbench.documents import control, departures
from workbench.studio import versions

TODAY = date.today()
START = TODAY - timedelta(days=365)


def at(d: date, hour: int = 9) -> datetime:
    return datetime.combine(d, time(hour), tzinfo=timezone.utc)


@pytest.fixture
def org(db, world):
    library.install_shipped(db)
    library.adopt_library(db, world.acme)
    for key in ("internal-audit", "calibration-record", "nonconforming-output"):
        d = control.generate_procedure(db, world.acme, key, world.users["manager"])
        control.approve(db, world.acme, d, world.users["manager"], {"manager"}, PASSWORD, today=START)
    db.commit()
    return world


def make(db, w, key, data, when: date, *, complete=True, created: date | None = None):
    """A record dated `when` (created then, unless `created`), walked to a final state by the right roles."""
    tpl = library.adopted(db, w.acme, key)
    rec = records.create(db, w.acme, tpl, {**tpl.body["examples"][0], **data}, w.users["member"], at=at(created or when))
    if complete:
        for i, name in enumerate(workflow.path_to_final(tpl.body)):
            spec = next(t for t in tpl.body["workflow"]["transitions"] if t["name"] == name)
            actor = w.users["manager"] if "manager" in spec["roles"] else w.users["member"]
            role = "manager" if actor is w.users["manager"] else "member"
            workflow.take(db, rec, tpl.body, name, actor, {role}, comment="ok", password=PASSWORD,
                          at=at(created or when, 10 + i))
    db.commit()
    return rec


def clean(db, w):
    make(db, w, "internal-audit", {"audit_date": str(TODAY - timedelta(days=300))}, TODAY - timedelta(days=300))
    make(db, w, "internal-audit", {"audit_date": str(TODAY - timedelta(days=40))}, TODAY - timedelta(days=40))
    make(db, w, "calibration-record", {"instrument_no": "JL-1", "calibration_date": str(TODAY - timedelta(days=20)),
                                       "next_due_date": str(TODAY + timedelta(days=160))}, TODAY - timedelta(days=20))
    make(db, w, "nonconforming-output", {"found_date": str(TODAY - timedelta(days=100))}, TODAY - timedelta(days=100))


def kinds(report) -> dict[str, list]:
    out: dict[str, list] = {}
    for c in report.checks:
        for d in c.departures:
            out.setdefault(d.kind, []).append(d)
    return out


def test_a_clean_set_has_no_departures(db, org):
    clean(db, org)
    report = departures.detect(db, org.acme, START, TODAY)
    assert len(report.checks) == 3
    assert report.count == 0, [(d.kind, d.message) for c in report.checks for d in c.departures]
    assert "internal-audit" not in report.unwritten and "corrective-action" in report.unwritten
    audits = next(c for c in report.checks if c.document.key == "internal-audit")
    assert "260" in " ".join(audits.facts)  # the actual interval, beside the written 12 months


def test_seeded_departures_are_found_and_link_to_their_records(db, org):
    w = org
    mgr, member = w.users["manager"], w.users["member"]
    # frequency: 20 months between two internal audits, and none in the last 12 months
    a1 = make(db, w, "internal-audit", {"audit_date": str(TODAY - timedelta(days=1000))}, TODAY - timedelta(days=1000))
    a2 = make(db, w, "internal-audit", {"audit_date": str(TODAY - timedelta(days=400))}, TODAY - timedelta(days=400))
    # a subject past its due date
    cal = make(db, w, "calibration-record", {"instrument_no": "JL-9", "calibration_date": str(TODAY - timedelta(days=300)),
                                             "next_due_date": str(TODAY - timedelta(days=60))}, TODAY - timedelta(days=300))
    # responsibility: the disposition decided (and signed) by the consultant, who holds no written role
    nc_tpl = library.adopted(db, w.acme, "nonconforming-output")
    role = records.create(db, w.acme, nc_tpl, dict(nc_tpl.body["examples"][0]), member, at=at(TODAY - timedelta(days=50)))
    workflow.take(db, role, nc_tpl.body, "decide", w.users["consultant"], {"manager"}, password=PASSWORD,
                  at=at(TODAY - timedelta(days=49)))
    # a skipped step written straight into the chain by an insider (reported -> closed)
    skip = records.create(db, w.acme, nc_tpl, dict(nc_tpl.body["examples"][1]), member, at=at(TODAY - timedelta(days=45)))
    skip.state = "closed"
    db.add(skip)
    trail.append(db, w.acme.id, "transition", record_id=skip.id, actor=mgr, from_state="reported", to_state="closed",
                 detail={"transition": "close"}, at=at(TODAY - timedelta(days=44)))
    # stuck for 200 days in a non-final state
    stuck = records.create(db, w.acme, nc_tpl, {**nc_tpl.body["examples"][2], "found_date": str(TODAY - timedelta(days=200))},
                           member, at=at(TODAY - timedelta(days=200)))
    # backfilled: found 90 days before it was entered
    back = make(db, w, "nonconforming-output", {"found_date": str(TODAY - timedelta(days=120))}, TODAY - timedelta(days=120),
                created=TODAY - timedelta(days=30))
    db.commit()
    # records: a new version requires a field the old records do not have; its procedure is approved
    old = library.adopted(db, w.acme, "nonconforming-output")
    body = dict(old.body)
    body["schema"] = {**old.body["schema"], "required": old.body["schema"]["required"] + ["root_cause"],
                      "properties": {**old.body["schema"]["properties"],
                                     "root_cause": {"type": "string", "label": {"zh": "原因分析", "en": "Root cause"}}}}
    body["examples"] = [{**e, "root_cause": "x"} for e in old.body["examples"]]
    versions.publish(db, w.acme, body, mgr, adopt=True)
    succ = control.generate_procedure(db, w.acme, "nonconforming-output", mgr)
    control.approve(db, w.acme, succ, mgr, {"manager"}, PASSWORD)
    db.commit()
    # burst: six records entered in the last days before the audit
    burst = [make(db, w, "calibration-record", {"instrument_no": f"B-{i}", "calibration_date": str(TODAY - timedelta(days=i)),
                                                "next_due_date": str(TODAY + timedelta(days=300))}, TODAY - timedelta(days=i))
             for i in range(1, 7)]

    report = departures.detect(db, w.acme, START, TODAY, "zh")
    found = kinds(report)
    ids = lambda kind: {i for d in found.get(kind, []) for i in d.record_ids}  # noqa: E731
    assert {a1.id, a2.id} <= ids("frequency") or a2.id in ids("overdue")
    assert a2.id in ids("overdue")
    assert cal.id in ids("overdue")
    assert role.id in ids("role")
    assert any("consultant of acme" in d.message for d in found["role"])
    assert skip.id in ids("step")
    assert stuck.id in ids("stuck")
    assert back.id in ids("backfilled")
    assert {role.id, stuck.id} <= ids("fields")
    assert any("原因分析" in d.message for d in found["fields"])
    assert {r.id for r in burst} <= ids("burst")
    # thresholds are settings: with a 400-day stuck limit the stuck record is no departure
    control.save_settings(db, w.acme, mgr, review_months=12, standards=["ISO 9001:2015"],
                          thresholds={"stuck_days": 400})
    db.commit()
    assert stuck.id not in {i for d in kinds(departures.detect(db, w.acme, START, TODAY)).get("stuck", [])
                            for i in d.record_ids}
    assert departures.thresholds(db, w.acme)["stuck_days"] == 400


def test_english_messages(db, org):
    make(db, org, "calibration-record", {"instrument_no": "JL-9", "calibration_date": str(TODAY - timedelta(days=300)),
                                         "next_due_date": str(TODAY - timedelta(days=60))}, TODAY - timedelta(days=300))
    report = departures.detect(db, org.acme, START, TODAY, "en")
    assert any("fell due" in d.message for c in report.checks for d in c.departures)


def test_responsibility_is_judged_by_the_role_held_at_the_time(db, org):
    """A manager appointed after the step was taken did not hold the role then; a manager removed later did."""
    from workbench.models import Membership, User

    w = org
    late = w.user("late@acme.test", "late manager", None, None)
    gone = w.user("gone@acme.test", "former manager", None, None)
    tpl = library.adopted(db, w.acme, "nonconforming-output")
    r1 = records.create(db, w.acme, tpl, dict(tpl.body["examples"][0]), w.users["member"], at=at(TODAY - timedelta(days=30)))
    r2 = records.create(db, w.acme, tpl, dict(tpl.body["examples"][1]), w.users["member"], at=at(TODAY - timedelta(days=30)))
    db.add(Membership(user_id=gone.id, org_id=w.acme.id, role="manager"))
    db.flush()
    m_gone = db.exec(select(Membership).where(Membership.user_id == gone.id)).one()
    trail.append(db, w.acme.id, "membership_add", detail={"membership": m_gone.id, "user": gone.id, "role": "manager"},
                 at=at(TODAY - timedelta(days=40)))
    workflow.take(db, r1, tpl.body, "decide", late, {"manager"}, password=PASSWORD, at=at(TODAY - timedelta(days=20)))
    workflow.take(db, r2, tpl.body, "decide", gone, {"manager"}, password=PASSWORD, at=at(TODAY - timedelta(days=20)))
    m_late = Membership(user_id=late.id, org_id=w.acme.id, role="manager")
    db.add(m_late)
    db.flush()
    trail.append(db, w.acme.id, "membership_add", detail={"membership": m_late.id, "user": late.id, "role": "manager"},
                 at=at(TODAY - timedelta(days=10)))
    db.delete(m_gone)
    db.flush()
    trail.append(db, w.acme.id, "membership_remove", detail={"membership": m_gone.id, "user": gone.id, "role": "manager"},
                 at=at(TODAY - timedelta(days=5)))
    db.commit()
    assert db.get(User, late.id) is not None
    roles = {i for c in departures.detect(db, w.acme, START, TODAY).checks for d in c.departures if d.kind == "role"
             for i in d.record_ids}
    assert r1.id in roles and r2.id not in roles


def test_the_audit_report_shows_the_departures_of_the_engagement_period(app, db, org, client_for):
    """The auditor reads the 两张皮 departures over the engagement's period in the report page and the xlsx."""
    import io

    from openpyxl import load_workbook

    from workbench.audit import report as report_mod
    from workbench.audit import service

    w = org
    nc_tpl = library.adopted(db, w.acme, "nonconforming-output")
    stuck = records.create(db, w.acme, nc_tpl, {**nc_tpl.body["examples"][2], "found_date": str(TODAY - timedelta(days=200))},
                           w.users["member"], at=at(TODAY - timedelta(days=200)))
    role = records.create(db, w.acme, nc_tpl, dict(nc_tpl.body["examples"][0]), w.users["member"], at=at(TODAY - timedelta(days=50)))
    workflow.take(db, role, nc_tpl.body, "decide", w.users["consultant"], {"manager"}, password=PASSWORD,
                  at=at(TODAY - timedelta(days=49)))
    now = datetime.now(timezone.utc)
    e = service.create_engagement(db, w.acme, w.users["manager"], title="两张皮 audit", standards=["ISO 9001:2015"],
                                  audit_type="surveillance", period_start=START, period_end=TODAY, scope_processes=[],
                                  scope_clauses=[], access_from=now - timedelta(days=1), access_until=now + timedelta(days=30))
    service.grant_auditor(db, e, w.users["auditor"], w.users["manager"])
    db.commit()
    expected = departures.detect(db, w.acme, START, TODAY, "zh")
    found = kinds(expected)
    assert stuck.id in {i for d in found["stuck"] for i in d.record_ids}
    assert role.id in {i for d in found["role"] for i in d.record_ids}

    with app.test_request_context():
        rep = report_mod.gather(db, w.acme, e, "zh")
    assert rep.departures.count == expected.count > 0

    auditor = client_for("auditor")
    html = auditor.get(f"/o/acme/audit/e/{e.id}/report").get_data(as_text=True)
    assert 'id="report-departures"' in html
    section = html.split('id="report-departures"', 1)[1].split("</section>", 1)[0]
    assert "与成文程序的偏离" in section
    for d in found["stuck"] + found["role"]:
        assert d.message in section or d.message.replace('"', "&#34;") in section
    assert f'href="/o/acme/audit/e/{e.id}/r/{stuck.id}"' in section  # each departure links to its records
    assert f'href="/o/acme/audit/e/{e.id}/r/{role.id}"' in section

    x = auditor.get(f"/o/acme/audit/e/{e.id}/report.xlsx")
    assert x.status_code == 200
    wb = load_workbook(io.BytesIO(x.data))
    ws = wb["偏离"]
    rows = [r for r in ws.iter_rows(min_row=3, values_only=True) if r[3]]  # departures have a severity
    assert len(rows) == expected.count
    assert any(r[4] == d.message and f"#{stuck.id}" in r[5] for r in rows for d in found["stuck"])
    assert any(f"#{role.id}" in r[5] for r in rows)


def test_a_clean_engagement_report_says_no_departures(app, db, org, client_for):
    from workbench.audit import service

    clean(db, org)
    now = datetime.now(timezone.utc)
    e = service.create_engagement(db, org.acme, org.users["manager"], title="clean audit", standards=["ISO 9001:2015"],
                                  audit_type="surveillance", period_start=START, period_end=TODAY, scope_processes=[],
                                  scope_clauses=[], access_from=now - timedelta(days=1), access_until=now + timedelta(days=30))
    service.grant_auditor(db, e, org.users["auditor"], org.users["manager"])
    db.commit()
    html = client_for("auditor").get(f"/o/acme/audit/e/{e.id}/report").get_data(as_text=True)
    section = html.split('id="report-departures"', 1)[1].split("</section>", 1)[0]
    assert "无偏离：做的与写的一致。" in section


def test_burst_minimum_setting_takes_effect_and_messages_follow_the_page_language(app, db, org):
    """`burst_min` (a per-organization setting) reaches workbench.anomalies; a burst with nothing before it does
    not say "usual rate about 0.0"; the anomaly messages are in the language asked for, not the request's."""
    w = org
    burst = [make(db, w, "calibration-record", {"instrument_no": f"B-{i}", "calibration_date": str(TODAY - timedelta(days=i)),
                                                "next_due_date": str(TODAY + timedelta(days=300))}, TODAY - timedelta(days=i))
             for i in range(1, 7)]
    back = make(db, w, "nonconforming-output", {"found_date": str(TODAY - timedelta(days=120))}, TODAY - timedelta(days=120),
                created=TODAY - timedelta(days=30))
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):  # a Chinese request, an English page
        en = kinds(departures.detect(db, w.acme, START, TODAY, "en"))
    assert {r.id for r in burst} <= {i for d in en["burst"] for i in d.record_ids}
    msg = en["burst"][0].message
    assert "none in the 180 days before that" in msg and "0.0" not in msg and "Calibration" in msg, msg
    assert back.id in {i for d in en["backfilled"] for i in d.record_ids}
    assert all("created more than" in d.message for d in en["backfilled"]), [d.message for d in en["backfilled"]]
    with app.test_request_context(headers={"Accept-Language": "en"}):
        zh = kinds(departures.detect(db, w.acme, START, TODAY, "zh"))
    assert all("创建" in d.message for d in zh["backfilled"] + zh["burst"]), [d.message for d in zh["backfilled"] + zh["burst"]]
    assert "一条也没有" in zh["burst"][0].message
    control.save_settings(db, w.acme, w.users["manager"], review_months=12, standards=["ISO 9001:2015"],
                          thresholds={"burst_min": 7})
    db.commit()
    assert "burst" not in kinds(departures.detect(db, w.acme, START, TODAY, "en"))
    control.save_settings(db, w.acme, w.users["manager"], review_months=12, standards=["ISO 9001:2015"],
                          thresholds={"burst_min": 6})
    db.commit()
    assert "burst" in kinds(departures.detect(db, w.acme, START, TODAY, "en"))
