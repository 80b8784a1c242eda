"""Done-when walk for the daily loop (Playwright, Debian's Chromium), on a phone (390×844) and a desktop
(1366×900), in Chinese and English: a member fills an inspection with rows and a photo, hits an error and
fixes it without losing the photo, submits; the manager sees it in 待办 and signs it with four others in one
bulk action; a due calibration produces an email and a robot message in local receivers; a list filtered by
result exports to xlsx that openpyxl reads back with the same rows. Every page: no console errors (CSP
included), no sideways scrolling on the phone, no serious/critical axe-core violations."""
from __future__ import annotations

import copy
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from sqlmodel import Session, select

from tests.browser import ARTIFACTS, live_server, shot, sign_in
from tests.conftest import PASSWORD
from tests.daily_browser import axe_serious, browser_context, sideways, watch_console
from tests.daily_receivers import http_receiver, smtp_server
from workbench import outbox, records, workflow
from workbench.models import Event, Record
from workbench.notify import remind
from workbench.notify.models import OrgChannel
from workbench.templates import LIBRARY_DIR, load_file

pytestmark = pytest.mark.browser
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 128


def inspection_with_photo() -> dict:
    body = copy.deepcopy(load_file(LIBRARY_DIR / "production-inspection.json"))
    body["schema"]["properties"]["photo"] = {"type": "string", "format": "attachment", "label": {"zh": "现场照片", "en": "Photo"}}
    body["ui"]["sections"][1]["fields"].append("photo")
    return body


def check_page(page, base, name, phone, console):
    page.wait_for_load_state("networkidle")
    shot(page, name)
    if phone:
        assert sideways(page) <= 0, f"{name}: {sideways(page)} px sideways"
    assert console == [], f"{name}: {console}"
    assert axe_serious(page, base, console) == [], name


@pytest.mark.parametrize("viewport,locale", [("phone", "zh-CN"), ("desktop", "en"), ("phone", "en"), ("desktop", "zh-CN")])
def test_daily_walk(app, world, viewport, locale):
    zh = locale.startswith("zh")
    phone = viewport == "phone"
    tag = f"daily-{viewport}-{'zh' if zh else 'en'}"
    db = world.db
    insp = world.add_template(inspection_with_photo())
    cal = world.add_template(load_file(LIBRARY_DIR / "calibration-record.json"))
    world.add_template(load_file(LIBRARY_DIR / "nonconforming-output.json"))
    others = []
    for i in range(4):
        ex = insp.body["examples"][i % len(insp.body["examples"])]
        rec = records.create(db, world.acme, insp, ex, world.users["member"])
        workflow.take(db, rec, insp.body, "submit", world.users["member"], {"member"})
        others.append(rec.id)
    db.commit()
    lang_q = "" if zh else "?lang=en"
    with live_server(app) as base, browser_context(viewport, locale) as ctx:
        # --- the member, on the shop floor -------------------------------------------------------------
        page = ctx.new_page()
        console = watch_console(page)
        sign_in(page, base, world.users["member"].email, PASSWORD)
        page.goto(base + "/o/acme/p/production-inspection/new" + lang_q)
        assert page.input_value("#f-inspector") == world.users["member"].name  # pre-filled 检验员
        assert page.input_value("#f-inspected_at").startswith(str(date.today().year))
        page.select_option("#f-inspection_stage", "final")
        page.fill("#f-batch_no", "B261202-07")
        page.fill("#f-production_date", "2026-12-01")
        page.fill("#f-part_no", "TS-2040")
        page.click("button[value='add:items']")
        page.wait_for_selector("input[name='items.0.item']")
        page.fill("input[name='items.0.item']", "外径 Φ25h6")
        page.fill("input[name='items.0.gauge_no']", "JL-0012")
        page.fill("input[name='items.0.standard']", "Φ24.987–25.000")
        page.fill("input[name='items.0.measured_value']", "24.993")
        page.select_option("select[name='items.0.result']", "ok")
        page.check("input[name=result][value=pass]")
        page.fill("#f-released_by", "王芳")
        page.set_input_files("#f-photo", files=[{"name": "现场.png", "mimeType": "image/png", "buffer": PNG}])
        check_page(page, base, f"{tag}-1-form", phone, console)
        if phone:  # repeating rows are stacked cards, the header is one line
            assert page.eval_on_selector(".rows-table tbody tr", "e => getComputedStyle(e).display") == "block"
            tops = page.eval_on_selector(".topbar", "e => [...e.children].map(c => c.getBoundingClientRect().top)")
            assert max(tops) - min(tops) < 8, tops
        page.click("button[value=save]")  # part name is missing
        page.wait_for_selector(".error-summary")
        summary = page.locator(".error-summary")
        assert summary.locator("a[data-focus='f-part_name']").count() == 1
        assert ("已上传：现场.png" if zh else "Uploaded: 现场.png") in page.locator("#f-photo-wrap").inner_text()
        check_page(page, base, f"{tag}-2-error", phone, console)
        summary.locator("a[data-focus='f-part_name']").click()
        assert page.evaluate("document.activeElement.id") == "f-part_name"
        page.fill("#f-part_name", "传动轴")
        page.click("button[value=save]")
        page.wait_for_url("**/r/*")
        rid = int(page.url.rsplit("/", 1)[1].split("?")[0])
        assert "现场.png" in page.locator("main").inner_text()
        page.locator("form.step:has(input[name=name][value=submit]) button").click()
        page.wait_for_load_state("networkidle")
        check_page(page, base, f"{tag}-3-submitted", phone, console)

        # --- the manager: 待办, then one bulk signature for five inspections ----------------------------------
        mctx_page = ctx.new_page()
        page.close()
        page = mctx_page
        console = watch_console(page)
        page.context.clear_cookies()
        sign_in(page, base, world.users["manager"].email, PASSWORD)
        page.goto(base + "/o/acme/" + lang_q)
        assert page.locator(".todo-link .count-badge").inner_text() == "5"
        check_page(page, base, f"{tag}-4-dashboard", phone, console)
        assert page.locator("details.clause-group").count() >= 1  # the dashboard collapses by clause group
        page.click(".todo-link")
        page.wait_for_url("**/todo")
        assert page.locator(f"#act a[href$='/r/{rid}']").count() == 1
        check_page(page, base, f"{tag}-5-todo", phone, console)
        page.goto(base + "/o/acme/p/production-inspection/?state=submitted")
        for i in others + [rid]:
            page.check(f"input[name=ids][value='{i}']")
        page.select_option("#bulk select[name=name]", "decide")
        page.fill("#bulk input[name=password]", PASSWORD)
        check_page(page, base, f"{tag}-6-bulk", phone, console)
        page.click("#bulk button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.locator(".flash-success").count() == 1
        with Session(app.extensions["workbench.engine"]) as s:
            for i in others + [rid]:
                assert s.get(Record, i).state == "decided"
                assert len(s.exec(select(Event).where(Event.record_id == i, Event.action == "sign")).all()) == 1
        page.goto(base + f"/o/acme/r/{rid}/print")
        check_page(page, base, f"{tag}-7-print", phone, console)

        # --- the list finds the new inspection by part of its batch number, whatever the case ----------------
        page.goto(base + "/o/acme/p/production-inspection/")
        page.fill("input[name=q]", "b261202")
        page.click("form.filters button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert page.locator(f"table.data a[href$='/r/{rid}']").count() >= 1
        assert page.locator("input[name=ids]").count() == 1

        # --- a list filtered by result exports to xlsx ------------------------------------------------------
        page.goto(base + "/o/acme/p/production-inspection/")
        page.select_option("select[name='f.result']", "fail")
        page.click("form.filters button[type=submit]")
        page.wait_for_load_state("networkidle")
        shown = sorted(int(x) for x in page.locator("input[name=ids]").evaluate_all("els => els.map(e => e.value)"))
        with page.expect_download() as dl:
            page.click("a[href*='export.xlsx']")
        path = ARTIFACTS / f"{tag}-export.xlsx"
        dl.value.save_as(path)
        rows = list(load_workbook(path, read_only=True).worksheets[0].iter_rows(min_row=2, values_only=True))
        assert shown and sorted(r[0] for r in rows) == shown
        assert console == [], console

    # --- a due calibration: an email and a robot message in local receivers --------------------------------
    with smtp_server() as smtp, http_receiver() as robot:
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port)
        db.add(OrgChannel(org_id=world.acme.id, kind="wecom", url=robot.url + "/cgi-bin/webhook/send?key=K"))
        records.create(db, world.acme, cal, dict(cal.body["examples"][0], next_due_date=(date.today() + timedelta(days=7)).isoformat()),
                       world.users["member"])
        db.commit()
        with app.app_context():
            remind.run(db)
            db.commit()
            outbox.deliver(app.extensions["workbench.engine"], "walk")
        assert any("JL-0012" in m.get_payload(decode=True).decode() for m in smtp.messages)
        assert any(j["msgtype"] == "markdown" and "JL-0012" in j["markdown"]["content"] for _p, _h, j, _b in robot.got)
