"""Playwright: a consultant builds a small template in the studio (3 fields, a repeating table, a condition),
watches the live preview follow, publishes it into the client organization; the manager adopts it from the
dashboard; a member fills the new form. Plus: the builder works without JavaScript.

Design note (documented in the report): publishing never switches an organization over — its manager adopts
the new version (or, when the publisher is a manager, ticks "adopt at once")."""
from __future__ import annotations

import pytest
from sqlmodel import Session, select

from tests.browser import chromium, live_server, shot, sign_in
from tests.conftest import PASSWORD
from workbench.models import ProcessTemplate, Record
from workbench.studio import builder
from workbench.studio.models import StudioDraft

pytestmark = pytest.mark.browser


def add_field(page, parent: str, zh: str, en: str, type_: str) -> None:
    row = page.locator(f"#add-{parent.replace('.', '--') or 'top'}")
    row.locator(f"input[name='new:{parent}:label_zh']").fill(zh)
    row.locator(f"input[name='new:{parent}:label_en']").fill(en)
    row.locator(f"select[name='new:{parent}:type']").select_option(type_)
    with page.expect_navigation():
        row.locator("button[name=_action]").click()


def wait_preview(page, text: str) -> None:
    page.wait_for_function("t => document.querySelector('#preview').innerText.includes(t)", arg=text, timeout=10000)


def test_consultant_builds_publishes_manager_adopts_member_fills(app, world):
    with live_server(app) as base, chromium() as ctx:
        errors: list[str] = []
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        sign_in(page, base, world.users["consultant"].email, PASSWORD)

        # a new template for the client organization, from the studio's list
        page.goto(base + "/studio/")
        page.click("#new > summary")
        page.fill("#new input[name=title_zh]", "叉车日常点检")
        page.fill("#new input[name=title_en]", "Forklift daily check")
        page.fill("#new input[name=key]", "forklift-daily-check")
        page.select_option("#new select[name=standard]", "ISO 45001:2018")
        page.fill("#new input[name=clause]", "8.1.2")
        with page.expect_navigation():
            page.click("#new button[formaction$='/studio/o/acme/new']")
        assert "/studio/o/acme/d/" in page.url
        assert page.locator("#f-date").count() == 1  # the preview shows the starting date field

        # field 1: a choice with two options; the preview follows the typing (htmx), nothing is saved yet
        add_field(page, "", "结论", "Result", "choice")
        card = page.locator("#b-result")
        values, zh, en = (card.locator(f"input[name='result:opt_{k}']") for k in ("value", "zh", "en"))
        for i, (v, z, e) in enumerate([("ok", "正常", "OK"), ("ng", "异常", "Not OK")]):
            values.nth(i).fill(v)
            zh.nth(i).fill(z)
            en.nth(i).fill(e)
        card.locator("input[name='result:radio']").check()
        wait_preview(page, "异常")
        assert page.locator("#preview input[name=result][value=ng]").count() == 1  # shown as radio buttons
        # field 2: a repeating table with a yes/no column next to the default one
        add_field(page, "", "检查项", "Checks", "table")
        page.fill("input[name='checks.item:label_zh']", "部位")
        page.fill("input[name='checks.item:label_en']", "Part")
        add_field(page, "checks", "正常", "OK", "yesno")
        assert page.locator("#preview th", has_text="部位").count() == 1
        # field 3: long text shown (and required) only when the result is "not OK"
        add_field(page, "", "处理措施", "Action taken", "textarea")
        action = page.locator("#b-action_taken")
        action.locator("select[name='action_taken:cond']").select_option(builder.code("result", ["ng"]))
        action.locator("input[name='action_taken:required']").check()
        page.wait_for_selector("#preview #f-action_taken-wrap[data-show-if-field=result]", state="attached")
        page.wait_for_selector("#preview #f-action_taken-wrap.is-hidden", state="attached")
        # the condition works in the preview: choose "异常" and the field appears
        assert page.locator("#preview #f-action_taken-wrap").is_hidden()
        page.check("#preview input[name=result][value=ng]")
        assert page.locator("#preview #f-action_taken-wrap").is_visible()
        # a typo is caught with its JSON path, and the field is highlighted, before anything is published
        page.fill("input[name='result:label_zh']", "")
        page.fill("input[name='result:label_en']", "")
        page.wait_for_selector("#berr-b-result.on")
        page.fill("input[name='result:label_zh']", "结论")
        page.fill("input[name='result:label_en']", "Result")
        page.wait_for_selector("#preview .pv-status.ok")
        page.evaluate("window.scrollTo(0, 0)")
        shot(page, "studio-builder")

        # the JSON tab shows what the builder wrote
        with page.expect_navigation():
            page.click("button[value='tab:json']")
        assert '"action_taken"' in page.input_value("#json-text")
        shot(page, "studio-json")
        with page.expect_navigation():
            page.click("button[value='tab:fields']")

        with page.expect_navigation():
            page.click("button[value=publish]")
        assert page.locator("#publish-impact").count() == 1  # what publishing changes, before it is done
        page.fill("#release-note", "首次发布：叉车日常点检")
        with page.expect_navigation():
            page.click("#confirm-publish")
        assert page.url.endswith("/studio/o/acme/t/forklift-daily-check")
        assert "v1" in page.locator("table.versions-table").inner_text()
        assert "首次发布" in page.locator("table.versions-table").inner_text()
        shot(page, "studio-published")
        assert errors == [], errors

        # the manager adopts the new process from the dashboard
        mctx = ctx.browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
        mpage = mctx.new_page()
        sign_in(mpage, base, world.users["manager"].email, PASSWORD)
        mpage.goto(base + "/o/acme/")
        board = mpage.locator(".update-board")
        assert "叉车日常点检" in board.inner_text()
        shot(mpage, "studio-dashboard-adopt")
        with mpage.expect_navigation():
            board.locator("button[type=submit]").click()
        assert mpage.locator(".update-board").count() == 0
        assert "叉车日常点检" in mpage.locator("main").inner_text()
        mctx.close()

        # a member of the client organization fills the form
        uctx = ctx.browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
        upage = uctx.new_page()
        upage.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(upage, base, world.users["member"].email, PASSWORD)
        upage.goto(base + "/o/acme/p/forklift-daily-check/new")
        upage.fill("#f-date", "2026-11-24")
        assert upage.locator("#f-action_taken-wrap").is_hidden()
        upage.check("input[name=result][value=ng]")
        assert upage.locator("#f-action_taken-wrap").is_visible()
        upage.fill("#f-action_taken", "液压管渗油，已停用报修")
        upage.click("button[value='add:checks']")
        upage.wait_for_selector("input[name='checks.0.item']")
        upage.fill("input[name='checks.0.item']", "液压系统")
        upage.check("input[name='checks.0.ok'][value=false]")
        shot(upage, "studio-member-form")
        upage.click("button[value=save]")
        upage.wait_for_url("**/r/*")
        body = upage.locator("main").inner_text()
        assert "液压管渗油" in body and "液压系统" in body and "异常" in body
        shot(upage, "studio-member-record")
        uctx.close()
        assert errors == [], errors

    with Session(app.extensions["workbench.engine"]) as s:
        [tpl] = s.exec(select(ProcessTemplate).where(ProcessTemplate.key == "forklift-daily-check")).all()
        [rec] = s.exec(select(Record)).all()
        assert rec.template_id == tpl.id and rec.data["checks"] == [{"item": "液压系统", "ok": False}]
        assert s.exec(select(StudioDraft)).all() == []


def test_builder_works_without_javascript(app, world):
    body = builder.new_template("noscript-check", "无脚本", "No script", [("ISO 9001:2015", "8.5.1")])
    with Session(app.extensions["workbench.engine"]) as s:
        d = StudioDraft(org_id=world.acme.id, key=body["key"], body=body)
        s.add(d)
        s.commit()
        draft_id = d.id
    with live_server(app) as base, chromium() as ctx:
        nojs = ctx.browser.new_context(java_script_enabled=False, locale="en-US", viewport={"width": 1280, "height": 900})
        page = nojs.new_page()
        sign_in(page, base, world.users["consultant"].email, PASSWORD)
        page.goto(f"{base}/studio/o/acme/d/{draft_id}")
        add_field(page, "", "结论", "Result", "yesno")
        add_field(page, "", "说明", "Notes", "text")
        page.select_option("select[name='notes:cond']", builder.code("result", [False]))
        with page.expect_navigation():
            page.click("button[value=save]:not(.visually-hidden)")
        assert "Applies when" in page.locator("#preview").inner_text()  # the server-rendered preview
        with page.expect_navigation():
            page.click("button[value='up:notes']")
        with page.expect_navigation():
            page.click("button[value=publish]")
        page.fill("#release-note", "First version")
        with page.expect_navigation():
            page.click("#confirm-publish")
        assert page.url.endswith("/studio/o/acme/t/noscript-check")
        nojs.close()
    with Session(app.extensions["workbench.engine"]) as s:
        [tpl] = s.exec(select(ProcessTemplate).where(ProcessTemplate.key == "noscript-check")).all()
        assert list(tpl.body["schema"]["properties"]) == ["date", "notes", "result"]
        assert builder.condition_of(tpl.body, "notes") == ("result", [False])
