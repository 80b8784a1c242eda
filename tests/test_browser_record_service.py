"""Playwright: two people edit the same record; the second save (through htmx) answers 409 in place with
what changed and the typed input kept; a signed record shows its signature and asks for a reason. Desktop
and 390 px phone, zh and en; screenshots in test-artifacts/."""
from __future__ import annotations

import pytest
from sqlmodel import Session

from tests.browser import chromium, live_server, shot, sign_in
from tests.conftest import PASSWORD, load_fixture
from workbench import records, workflow
from workbench.models import Record

pytestmark = pytest.mark.browser
KS = load_fixture("kitchen-sink.json")
DATA = {"batch_no": "B1", "inspected_on": "2026-01-05", "result": "pass", "quantity": 10, "release_by": "王芳"}


def _record(app, world, signed: bool = False) -> int:
    tpl = world.add_template(KS, world.acme)
    with app.test_request_context(), Session(app.extensions["workbench.engine"], expire_on_commit=False) as db:
        rec = records.create(db, world.acme, tpl, dict(DATA), world.users["member"])
        if signed:
            workflow.take(db, rec, KS, "submit", world.users["member"], {"member"})
            workflow.take(db, rec, KS, "release", world.users["manager"], {"manager"}, password=PASSWORD)
        db.commit()
        return rec.id


@pytest.mark.parametrize("locale,width", [("zh-CN", 1280), ("en", 390)])
def test_stale_form_shows_what_changed_and_keeps_the_input(app, world, locale, width):
    rid = _record(app, world)
    with live_server(app) as base, chromium(locale) as ctx:
        mine, theirs = ctx.browser.new_context(locale=locale, viewport={"width": width, "height": 900}), \
            ctx.browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
        a, b = mine.new_page(), theirs.new_page()
        errors = []
        a.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(a, base, world.users["member"].email, PASSWORD)
        sign_in(b, base, world.users["manager"].email, PASSWORD)
        a.goto(f"{base}/o/acme/r/{rid}/edit")
        b.goto(f"{base}/o/acme/r/{rid}/edit")
        b.fill("#f-quantity", "20")
        b.click("button[value=save]")
        b.wait_for_url(f"**/r/{rid}")
        a.fill("#f-quantity", "11")
        a.fill("#f-_comment", "复核数量")
        a.click("button[value=save]")
        a.wait_for_selector("#record-conflict")
        assert a.input_value("#f-quantity") == "11" and a.input_value("#f-_comment") == "复核数量"
        text = a.locator("#record-conflict").inner_text()
        assert "10" in text and "20" in text
        shot(a, f"record-stale-form-{locale}-{width}")
        a.click("button[value=save]")  # saved on top of what they were shown
        a.wait_for_url(f"**/r/{rid}")
        assert errors == [], errors
        mine.close()
        theirs.close()
    with Session(app.extensions["workbench.engine"]) as db:
        rec = db.get(Record, rid)
        assert rec.revision == 3 and rec.data["quantity"] == 11


@pytest.mark.parametrize("locale,width", [("zh-CN", 390), ("en", 1280)])
def test_signed_record_shows_the_signature_and_needs_a_reason(app, world, locale, width):
    rid = _record(app, world, signed=True)
    with live_server(app) as base, chromium(locale) as ctx:
        page = ctx.new_page()
        page.set_viewport_size({"width": width, "height": 900})
        sign_in(page, base, world.users["member"].email, PASSWORD)
        page.goto(f"{base}/o/acme/r/{rid}")
        sig = page.locator("#signatures").inner_text()
        assert "manager of acme" in sig and ("修订版本 1" in sig or "revision 1" in sig)
        shot(page, f"record-signed-{locale}-{width}")
        page.goto(f"{base}/o/acme/r/{rid}/edit")
        assert page.locator("#signed-notice").is_visible()
        page.fill("#f-quantity", "9")
        page.fill("#f-_comment", "数量录错")
        page.click("button[value=save]")
        page.wait_for_url(f"**/r/{rid}")
        body = page.locator("main").inner_text()
        assert "数量录错" in body
        shot(page, f"record-edited-after-signature-{locale}-{width}")
    with Session(app.extensions["workbench.engine"]) as db:
        rec = db.get(Record, rid)
        assert rec.state == "submitted" and rec.revision == 2
