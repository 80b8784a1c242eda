"""Notifications: outbox delivery through a real SMTP server and a local HTTP receiver, retries, dedupe,
two workers at once, robot message formats, and `workbench remind` being idempotent per day."""
from __future__ import annotations

import hashlib
import hmac
import threading
from datetime import date, timedelta

from sqlmodel import select

from tests.daily_receivers import http_receiver, smtp_server
from workbench import library, outbox, records
from workbench.models import utcnow
from workbench.notify import channels, remind
from workbench.notify.models import Notification, NotifyPref, OrgChannel, Outbox


def _engine(app):
    return app.extensions["workbench.engine"]


def test_enqueue_dedupes(app, db):
    with app.app_context():
        assert outbox.enqueue(db, "email", "a@x.test", {"title": "t", "text": "x"}, "k1")
        assert not outbox.enqueue(db, "email", "a@x.test", {"title": "t", "text": "x"}, "k1")
        db.commit()
        assert len(db.exec(select(Outbox)).all()) == 1


def test_email_through_real_smtp_with_retry(app, db):
    with app.app_context():
        outbox.enqueue(db, "email", "zhang@x.test", {"title": "校准到期", "text": "JL-0012 下次到期日 2026-06-07"}, "e1")
        db.commit()
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=1)  # nothing listens there: a failure
        r = outbox.deliver(_engine(app), "w1")
        assert r.retry and not r.sent
        row = db.exec(select(Outbox)).one()
        db.refresh(row)
        assert row.state == "pending" and row.attempts == 1 and row.last_error
        assert row in outbox.problems(db)
        with smtp_server() as smtp:
            app.config.update(SMTP_PORT=smtp.port)
            assert not outbox.deliver(_engine(app), "w1").sent  # backing off: not yet due
            r = outbox.deliver(_engine(app), "w1", now=utcnow() + timedelta(minutes=2))
            assert r.sent == [row.id]
            assert outbox.deliver(_engine(app), "w1", now=utcnow() + timedelta(days=1)).sent == []  # never twice
        assert len(smtp.messages) == 1
        assert _subject(smtp.messages[0]) == "校准到期" and "JL-0012" in smtp.messages[0].get_payload(decode=True).decode()


def _subject(msg) -> str:
    from email.header import decode_header, make_header

    return str(make_header(decode_header(msg["Subject"])))


def test_gives_up_after_max_attempts_but_keeps_the_row(app, db):
    with app.app_context():
        outbox.enqueue(db, "webhook", "http://127.0.0.1:1/x", {"title": "t"}, "w1")
        db.commit()
        now = utcnow()
        for i in range(outbox.MAX_ATTEMPTS):
            outbox.deliver(_engine(app), "w", now=now + timedelta(days=i + 1))
        row = db.exec(select(Outbox)).one()
        db.refresh(row)
        assert row.state == "failed" and row.attempts == outbox.MAX_ATTEMPTS
        outbox.retry(db, row.id)
        db.commit()
        db.refresh(row)
        assert row.state == "pending"


def test_two_workers_never_send_twice(app, db):
    with app.app_context():
        for i in range(30):
            outbox.enqueue(db, "webhook", "http://x/", {"i": i}, f"k{i}")
        db.commit()
        sent: list[int] = []
        lock = threading.Lock()

        def fake_send(row):
            with lock:
                sent.append(row.id)

        def work(name):
            with app.app_context():
                outbox.deliver(_engine(app), name, send=fake_send)

        ts = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        assert sorted(sent) == sorted(set(sent)) and len(sent) == 30


def test_robot_markdown_and_signed_webhook(app, db, world):
    with app.app_context(), http_receiver(fail_first=1) as rx:
        db.add(OrgChannel(org_id=world.acme.id, kind="wecom", url=rx.url + "/cgi-bin/webhook/send?key=K"))
        db.add(OrgChannel(org_id=world.acme.id, kind="dingtalk", url=rx.url + "/robot/send?access_token=T", secret="SEC"))
        db.add(NotifyPref(user_id=world.users["member"].id, webhook_url=rx.url + "/hook", webhook_secret="s3cret"))
        db.commit()
        from workbench.notify import events

        events.to_org_robots(db, world.acme, "标题", "内容", "x1")
        events.to_user(db, world.users["member"], world.acme, "due", "到期", "到期", "", "x2")
        db.commit()
        r1 = outbox.deliver(_engine(app), "w")
        assert len(r1.retry) == 1  # the receiver's first answer was a 500
        outbox.deliver(_engine(app), "w", now=utcnow() + timedelta(minutes=5))
        paths = {p.split("?")[0]: (h, j, b) for p, h, j, b in rx.got}
        assert paths["/cgi-bin/webhook/send"][1] == {"msgtype": "markdown", "markdown": {"content": "**标题**\n内容"}}
        ding = [p for p, *_ in rx.got if p.startswith("/robot/send")][0]
        assert "timestamp=" in ding and "sign=" in ding
        assert paths["/robot/send"][1]["markdown"]["title"] == "标题"
        h, j, raw = paths["/hook"]
        assert h["X-Workbench-Signature"] == "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
        assert j["title"] == "到期"
        assert db.exec(select(Notification).where(Notification.user_id == world.users["member"].id)).first()


def test_dingtalk_sign_matches_documented_formula():
    import base64
    import urllib.parse

    url = channels.dingtalk_signed_url("https://oapi.dingtalk.com/robot/send?access_token=T", "SEC", now_ms=1700000000000)
    sign = base64.b64encode(hmac.new(b"SEC", b"1700000000000\nSEC", hashlib.sha256).digest())
    assert url.endswith("&timestamp=1700000000000&sign=" + urllib.parse.quote_plus(sign))


def test_remind_due_calibration_once_per_day(app, db, world):
    from workbench.templates import load_file, LIBRARY_DIR

    body = load_file(LIBRARY_DIR / "calibration-record.json")
    tpl = world.add_template(body)
    with app.test_request_context():
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=25)
        today = date(2026, 5, 1)
        data = dict(body["examples"][0], next_due_date=(today + timedelta(days=7)).isoformat())
        records.create(db, world.acme, tpl, data, world.users["member"])
        db.add(OrgChannel(org_id=world.acme.id, kind="wecom", url="http://127.0.0.1:9/x"))
        db.commit()
        r = remind.run(db, today)
        db.commit()
        assert r.notifications >= 2 and r.messages >= 3  # manager + member in-app, emails, robot
        again = remind.run(db, today)
        db.commit()
        assert again.notifications == 0 and again.messages == 0
        later = remind.run(db, today + timedelta(days=7))  # due today: the "0 days" reminder is new
        db.commit()
        assert later.notifications >= 2
        assert library  # noqa


def test_threshold():
    assert remind.threshold(45) is None and remind.threshold(30) == "30" and remind.threshold(8) == "30"
    assert remind.threshold(7) == "7" and remind.threshold(0) == "0" and remind.threshold(-1) == "overdue"


def test_admin_outbox_settings_and_channels(app, db, world, client_for):
    from tests.conftest import csrf_from

    with app.app_context():
        outbox.enqueue(db, "webhook", "http://127.0.0.1:1/x", {"title": "t"}, "bad1")
        db.commit()
        for i in range(outbox.MAX_ATTEMPTS):
            outbox.deliver(_engine(app), "w", now=utcnow() + timedelta(days=i + 1))
    admin = client_for("admin")
    page = admin.get("/admin/outbox").get_data(as_text=True)
    assert "127.0.0.1:1/x" in page and "failed" in page
    assert client_for("manager").get("/admin/outbox").status_code == 403
    m = client_for("member")
    tok = csrf_from(m.get("/account/notifications").get_data(as_text=True))
    assert m.post("/account/notifications", data={"csrf_token": tok, "webhook_url": "javascript:alert(1)"}).status_code == 422
    assert m.post("/account/notifications", data={"csrf_token": tok, "webhook_url": "https://hook.example/x"}).status_code == 303
    pref = db.exec(select(NotifyPref).where(NotifyPref.user_id == world.users["member"].id)).one()
    assert pref.webhook_url == "https://hook.example/x" and len(pref.webhook_secret) == 48 and pref.email is False
    assert m.get("/o/acme/channels").status_code == 403
    mg = client_for("manager")
    tok = csrf_from(mg.get("/o/acme/channels").get_data(as_text=True))
    assert mg.post("/o/acme/channels", data={"csrf_token": tok, "wecom_url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K",
                                              "dingtalk_url": ""}).status_code == 303
    assert db.exec(select(OrgChannel).where(OrgChannel.org_id == world.acme.id)).one().kind == "wecom"
    assert client_for("outsider").get("/o/acme/channels").status_code == 404


def test_transition_notifies_the_next_role_and_returned_author(app, db, world, client_for):
    from tests.conftest import csrf_from
    from workbench import workflow
    from workbench.templates import LIBRARY_DIR, load_file

    tpl = world.add_template(load_file(LIBRARY_DIR / "production-inspection.json"))
    rec = records.create(db, world.acme, tpl, tpl.body["examples"][0], world.users["member"])
    db.commit()
    m = client_for("member")
    tok = csrf_from(m.get(f"/o/acme/r/{rec.id}").get_data(as_text=True))
    m.post(f"/o/acme/r/{rec.id}/transition", data={"csrf_token": tok, "name": "submit"})
    notes = db.exec(select(Notification).where(Notification.user_id == world.users["manager"].id)).all()
    assert [n.kind for n in notes] == ["awaits"]
    mg = client_for("manager")
    assert "待您处理" in mg.get("/o/acme/todo").get_data(as_text=True)  # in the language the user reads
    tok = csrf_from(mg.get(f"/o/acme/r/{rec.id}").get_data(as_text=True))
    mg.post(f"/o/acme/r/{rec.id}/transition", data={"csrf_token": tok, "name": "return", "comment": "批号错"})
    assert db.exec(select(Notification).where(Notification.user_id == world.users["member"].id, Notification.kind == "returned")).one()
    assert workflow  # noqa


def test_remind_and_deliver_commands(app, db, world):
    from workbench.templates import LIBRARY_DIR, load_file

    cal = world.add_template(load_file(LIBRARY_DIR / "calibration-record.json"))
    records.create(db, world.acme, cal, dict(cal.body["examples"][0], next_due_date="2026-05-08"), world.users["member"])
    db.commit()
    with http_receiver() as robot:
        db.add(OrgChannel(org_id=world.acme.id, kind="dingtalk", url=robot.url + "/robot/send?access_token=T"))
        db.commit()
        from workbench.cli import main

        runner = app.test_cli_runner()
        first = runner.invoke(main, args=["remind", "--date", "2026-05-01"])
        assert first.exit_code == 0 and "notifications" in first.output and not first.output.startswith("0 ")
        again = runner.invoke(main, args=["remind", "--date", "2026-05-01"])
        assert again.output.startswith("0 notifications, 0 messages")
        out = runner.invoke(main, args=["deliver", "--worker", "cron"])
        assert out.exit_code == 0 and out.output.startswith("sent 1"), out.output
        assert any(j["msgtype"] == "markdown" and "JL-0012" in j["markdown"]["text"] for _p, _h, j, _b in robot.got)
