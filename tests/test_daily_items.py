"""#12 items that had no test of their own: an audit finding waits in the managers' 待办 and notifies them and
the group robot; the dashboard's "and N more" opens the full due list; a webhook that times out is retried, not
dropped; the fill link of a poster leads a signed-out phone through the login to the new-record form; the print
view's footer carries the revision, the chain status and the record hash, and the signature manifestation."""
from __future__ import annotations

import socket
from datetime import date, timedelta
from urllib.parse import quote

from sqlmodel import select

from tests.conftest import PASSWORD, csrf_from
from workbench import outbox, records, workflow
from workbench.audit.models import Engagement
from workbench.models import utcnow
from workbench.notify.models import Notification, OrgChannel, Outbox
from workbench.templates import LIBRARY_DIR, load_file


def test_a_raised_finding_waits_in_todo_and_notifies_managers_and_robot(app, db, world, client_for):
    db.add(OrgChannel(org_id=world.acme.id, kind="wecom", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K"))
    db.commit()
    auditor = client_for("auditor")
    eid = db.exec(select(Engagement.id).where(Engagement.org_id == world.acme.id)).first()
    url = f"/o/acme/audit/e/{eid}/findings"
    tok = csrf_from(auditor.get(url).get_data(as_text=True))
    r = auditor.post(url, data={"csrf_token": tok, "grade": "minor", "standard": "ISO 9001:2015", "clause": "8.5.1",
                                "statement": "首件检验记录缺少检验员签字"})
    assert r.status_code in (302, 303), r.status_code
    todo = client_for("manager").get("/o/acme/todo").get_data(as_text=True)
    assert 'id="findings"' in todo and "首件检验记录缺少检验员签字" in todo
    manager = world.users["manager"]
    assert db.exec(select(Notification).where(Notification.user_id == manager.id)).first() is not None
    assert db.exec(select(Outbox).where(Outbox.channel == "wecom")).first() is not None
    assert 'id="findings"' not in client_for("member").get("/o/acme/todo").get_data(as_text=True)


def test_and_n_more_on_the_dashboard_opens_the_full_due_list(db, world, client_for):
    cal = world.add_template(load_file(LIBRARY_DIR / "calibration-record.json"))
    for i in range(11):
        records.create(db, world.acme, cal, dict(cal.body["examples"][0], instrument_no=f"JL-9{i:02d}",
                                                  next_due_date=(date.today() - timedelta(days=i + 1)).isoformat()),
                       world.users["member"])
    db.commit()
    c = client_for("manager")
    dash = c.get("/o/acme/").get_data(as_text=True)
    assert "/o/acme/todo#due" in dash
    todo = c.get("/o/acme/todo").get_data(as_text=True)
    assert all(f"JL-9{i:02d}" in todo for i in range(11))


def test_a_webhook_that_times_out_is_retried_not_dropped(app, db, monkeypatch):
    from workbench.notify import channels

    monkeypatch.setattr(channels, "TIMEOUT", 0.3)
    with socket.socket() as silent:  # accepts the connection (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        with app.app_context():
            outbox.enqueue(db, "webhook", f"http://127.0.0.1:{silent.getsockname()[1]}/hook", {"title": "t"}, "slow1")
            db.commit()
            outbox.deliver(app.extensions["workbench.engine"], "w")
    db.expire_all()
    row = db.exec(select(Outbox).where(Outbox.dedupe_key == "slow1")).one()
    assert row.state == "pending" and row.attempts == 1 and row.next_at > utcnow() and row.last_error


def test_the_poster_link_leads_a_signed_out_phone_through_login_to_the_form(app, db, world, client_for):
    world.add_template(load_file(LIBRARY_DIR / "production-inspection.json"))
    poster = client_for("manager").get("/o/acme/p/production-inspection/poster").get_data(as_text=True)
    fill = "http://localhost/o/acme/p/production-inspection/new"
    assert f'href="{fill}"' in poster
    phone = app.test_client()
    r = phone.get(fill)
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert quote("/o/acme/p/production-inspection/new", safe="") in r.headers["Location"] or \
        "/o/acme/p/production-inspection/new" in r.headers["Location"]
    login_page = phone.get(r.headers["Location"])
    tok = csrf_from(login_page.get_data(as_text=True))
    r = phone.post(r.headers["Location"], data={"csrf_token": tok, "email": world.users["member"].email, "password": PASSWORD})
    assert r.status_code == 302 and r.headers["Location"].endswith("/o/acme/p/production-inspection/new"), r.headers.get("Location")
    assert phone.get("/o/acme/p/production-inspection/new").status_code == 200


def test_print_footer_and_signature_manifestation(app, db, world, client_for):
    insp = world.add_template(load_file(LIBRARY_DIR / "production-inspection.json"))
    rec = records.create(db, world.acme, insp, insp.body["examples"][0], world.users["member"])
    with app.test_request_context():
        workflow.take(db, rec, insp.body, "submit", world.users["member"], {"member"})
        workflow.take(db, rec, insp.body, "decide", world.users["manager"], {"manager"}, password=PASSWORD)
    db.commit()
    html = client_for("manager").get(f"/o/acme/r/{rec.id}/print?lang=en").get_data(as_text=True)
    foot = html[html.index('class="print-foot"'):]
    assert f"revision {rec.revision}" in foot and "Event chain verified" in foot and "record hash" in foot
    assert "Electronic signatures" in html and world.users["manager"].name in html
