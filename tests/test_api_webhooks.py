"""Webhooks out (#14 part 3): a manager registers a URL; record events go through the outbox to a local receiver
that fails the first attempts; each event arrives once, signed with HMAC-SHA256."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

from sqlmodel import select

from tests.conftest import csrf_from, load_fixture
from workbench import outbox
from workbench.api import tokens
from workbench.models import utcnow
from workbench.notify.models import Outbox

KS = load_fixture("kitchen-sink.json")
GOOD = {"batch_no": "B-1", "inspected_on": "2026-03-05", "result": "pass", "quantity": 3}


def _receiver(fail_first: int):
    got, calls = [], {"n": 0}

    class H(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            calls["n"] += 1
            if calls["n"] <= fail_first:
                self.send_response(500)
                self.end_headers()
                return
            got.append((dict(self.headers), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, got, calls


def test_record_events_reach_a_failing_receiver_once_and_signed(app, world, db, client_for):
    world.add_template(KS, world.acme)
    srv, got, calls = _receiver(fail_first=2)
    try:
        m = client_for("manager")
        page = m.get("/o/acme/webhooks")
        assert page.status_code == 200
        bad = m.post("/o/acme/webhooks", data={"csrf_token": csrf_from(page.get_data(as_text=True)), "url": "ftp://x"})
        assert bad.status_code == 422
        resp = m.post("/o/acme/webhooks", data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                                                "url": f"http://127.0.0.1:{srv.server_port}/hook"})
        html = resp.get_data(as_text=True)
        secret = html.split('id="new-secret">')[1].split("<")[0]
        assert client_for("member").get("/o/acme/webhooks").status_code == 403
        with app.app_context():
            _r, clear = tokens.create(db, world.users["member"], world.acme, "read,write")
            db.commit()
        h = {"Authorization": f"Bearer {clear}"}
        c = app.test_client()
        rid = c.post("/api/v1/o/acme/processes/kitchen-sink/records", json={"data": GOOD}, headers=h).get_json()["id"]
        assert c.put(f"/api/v1/o/acme/records/{rid}", json={"data": {**GOOD, "quantity": 5}},
                     headers={**h, "If-Match": "1"}).status_code == 200
        assert c.put(f"/api/v1/o/acme/records/{rid}", json={"data": {**GOOD, "quantity": 5}},
                     headers={**h, "If-Match": "2"}).status_code == 200  # nothing changed: no event
        assert c.post(f"/api/v1/o/acme/records/{rid}/transitions", json={"name": "submit"}, headers=h).status_code == 200
        engine = app.extensions["workbench.engine"]
        now = utcnow()
        with app.app_context():
            for step in range(8):
                outbox.deliver(engine, now=now + timedelta(hours=step))
        rows = db.exec(select(Outbox).where(Outbox.channel == "webhook")).all()
        assert len(rows) == 3 and all(r.state == "sent" for r in rows)
        assert any(r.attempts > 1 for r in rows), "the receiver failed the first attempts"
        events = [json.loads(body)["event"] for _h, body in got]
        assert sorted(events) == ["created", "edited", "transitioned"]
        for headers, body in got:
            want = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["X-Workbench-Signature"], want)
            payload = json.loads(body)
            assert payload["payload_version"] == 1 and headers["X-Workbench-Payload-Version"] == "1"
            assert set(payload) == {"payload_version", "webhook_id", "event", "record_id", "process", "revision",
                                    "state"}, "version 1's shape (docs/api.md): a change of shape raises the version"
    finally:
        srv.shutdown()


def test_a_signature_is_announced_as_signed(app, world, db):
    """The web UI signs with the password (the API never does); the webhook says `signed`."""
    from tests.conftest import PASSWORD
    from workbench import records
    from workbench.api import webhooks
    from workbench.services import records as svc

    tpl = world.add_template(KS, world.acme)
    with app.test_request_context():
        webhooks.register(db, world.acme, "http://127.0.0.1:9/hook", world.users["manager"])
        rec = records.create(db, world.acme, tpl, {**GOOD, "release_by": "QA"}, world.users["member"])
        svc.transition(db, rec, "submit", world.users["member"], {"member"})
        svc.transition(db, rec, "release", world.users["manager"], {"manager"}, password=PASSWORD)
        db.commit()
    kinds = [r.payload["event"] for r in db.exec(select(Outbox).where(Outbox.channel == "webhook")).all()]
    assert kinds == ["transitioned", "signed"]
