"""Playwright, issue #17: a consultant adds a state and a step in one save and sees them in the diagram and the
preview; publishes with a release note after seeing the impact on existing records; the auditor issues and
signs the report, and a later change makes a new revision. Desktop (zh) and a 390 px phone (en)."""
from __future__ import annotations

import re

import pytest
from openpyxl import load_workbook
from sqlmodel import Session, select

from tests.browser import chromium, live_server, shot, sign_in
from tests.conftest import PASSWORD
from workbench import library
from workbench.audit.models import Engagement
from workbench.audit.report_models import AuditReport
from workbench.demo import DEMO_PASSWORD
from workbench.models import ProcessTemplate
from workbench.studio import builder, versions
from workbench.studio.models import StudioDraft, TemplateRelease

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def make_draft(app, org, body: dict, base_id: int | None = None) -> int:
    with Session(app.extensions["workbench.engine"]) as s:
        d = StudioDraft(org_id=org.id, key=body["key"], body=body, base_template_id=base_id)
        s.add(d)
        s.commit()
        return d.id


def watch(page, errors: list[str]) -> None:
    page.add_init_script("document.addEventListener('securitypolicyviolation', e => console.error('CSPDEBUG ' + "
                         "(e.target && e.target.outerHTML ? e.target.outerHTML.slice(0, 300) : String(e.target)) + ' | ' + e.sample + ' | ' + e.violatedDirective))")
    """Collect script errors and console errors (a page answered 422/409 on purpose is not one)."""
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(f"{m.text} @ {m.location}") if m.type == "error" and not re.search(
        r"status of (422|409|403)", m.text) else None)


def last_step(page):
    return page.locator("fieldset.step-card.blank")


@pytest.mark.parametrize("lang,viewport", [("zh", None), ("en", PHONE)], ids=["desktop-zh", "phone-en"])
def test_new_state_and_step_in_one_save_show_in_diagram_and_preview(app, world, lang, viewport):
    body = builder.new_template("forklift-check", "叉车点检", "Forklift check", [("ISO 45001:2018", "8.1.2")])
    draft_id = make_draft(app, world.acme, body)
    with live_server(app) as base, chromium("zh-CN" if lang == "zh" else "en-US") as ctx:
        if viewport:
            ctx = ctx.browser.new_context(locale="en-US", viewport=viewport)
        errors: list[str] = []
        page = ctx.new_page()
        watch(page, errors)
        sign_in(page, base, world.users["consultant"].email, PASSWORD)
        page.goto(f"{base}/studio/o/acme/d/{draft_id}?tab=workflow&lang={'en' if lang == 'en' else 'zh_CN'}")
        assert page.locator("#wf-diagram svg.wf-diagram").count() == 1
        # a new state, final …
        row = page.locator("#states-table tbody tr.blank")
        row.locator("input[name='s:name']").fill("verified")
        row.locator("input[name='s:zh']").fill("已复核")
        row.locator("input[name='s:en']").fill("Verified")
        row.locator("input[name='s:final']").check()
        # … is offered at once to a new step, which moves approved records there
        step = last_step(page)
        step.locator("input[name$=':name']").fill("verify")
        step.locator("input[name$=':zh']").fill("复核")
        step.locator("input[name$=':en']").fill("Verify")
        step.locator("input[name$=':from'][value=approved]").check()
        step.locator("select[name$=':to']").select_option("verified")
        step.locator("input[name$=':roles'][value=manager]").check()
        step.locator("input[name$=':sig_zh']").fill("复核确认")
        step.locator("input[name$=':sig_en']").fill("Verification")
        title = "已复核" if lang == "zh" else "Verified"
        sig = "复核确认" if lang == "zh" else "Verification"
        page.wait_for_function("([a, b]) => { const d = document.querySelector('#wf-diagram'); "
                               "return d && d.textContent.includes(a) && d.textContent.includes(b); }",
                               arg=[title, sig], timeout=15000)
        page.wait_for_selector("#preview .pv-status.ok")
        shot(page, f"studio-workflow-one-save-{lang}")
        with page.expect_navigation():
            page.click("button[value=save]:not(.visually-hidden)")
        diagram = page.locator("#wf-diagram").inner_text()
        assert title in diagram and ("复核确认" in diagram or "Verification" in diagram)
        assert page.locator("#wf-diagram g.wf-final[data-name=verified]").count() == 1
        shot(page, f"studio-workflow-saved-{lang}")
        if viewport:  # nothing scrolls sideways on the phone
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"] + 1

        # a step without a target: the error names the row and every other input is kept
        page.locator("#states-table tbody tr.blank input[name='s:name']").fill("archived")
        step = last_step(page)
        step.locator("input[name$=':name']").fill("archive")
        step.locator("input[name$=':from'][value=verified]").check()
        step.locator("input[name$=':roles'][value=manager]").check()
        with page.expect_navigation():
            page.click("button[value=save]:not(.visually-hidden)")
        summary = page.locator(".error-summary").inner_text()
        assert "archive" in summary
        assert page.locator("#states-table input[name='s:name'][value=archived]").count() == 1  # kept
        assert last_step(page).locator("input[name$=':name']").input_value() == "archive"
        assert last_step(page).locator("input[name$=':from'][value=verified]").is_checked()
        assert errors == [], errors
        if viewport:
            ctx.close()
    with Session(app.extensions["workbench.engine"]) as s:
        wf = s.get(StudioDraft, draft_id).body["workflow"]
        assert wf["states"]["verified"]["final"] is True
        assert [t for t in wf["transitions"] if t["name"] == "verify"][0]["to"] == "verified"
        assert "archived" not in wf["states"]  # nothing of the failed save was stored


def test_publish_with_release_note_after_seeing_the_impact(app, world, db):
    # version 1 is in use, with a record that is done
    v1_body = builder.new_template("forklift-check", "叉车点检", "Forklift check", [("ISO 45001:2018", "8.1.2")])
    v1 = versions.publish(db, world.acme, v1_body, None, note="首版")
    library.adopt(db, world.acme, v1)
    db.commit()
    from workbench import records

    rec = records.create(db, world.acme, v1, {"date": "2026-11-20"}, world.users["member"])
    rec.state = "approved"
    db.add(rec)
    db.commit()
    # the draft of version 2: a newly required field, a new final state
    body = builder.add_field(v1.body, "driver", "text", "司机", "Driver", required=True)
    body = builder.add_state(body, "verified", "已复核", "Verified", final=True)
    body["workflow"]["states"]["approved"].pop("final")
    body = builder.add_transition(body, "verify", ["approved"], "verified", "复核", "Verify", ["manager"])
    draft_id = make_draft(app, world.acme, body, v1.id)
    with live_server(app) as base, chromium() as ctx:
        errors: list[str] = []
        page = ctx.new_page()
        watch(page, errors)
        sign_in(page, base, world.users["consultant"].email, PASSWORD)
        page.goto(f"{base}/studio/o/acme/d/{draft_id}")
        with page.expect_navigation():
            page.click("button[value=publish]")
        text = page.locator("main").inner_text()
        assert "发布" in text and "版本 2" in text
        warnings = page.locator("#diff-warnings").inner_text()
        assert "终态" in warnings and "司机" in warnings
        impact = page.locator("#publish-impact").inner_text()
        assert "1" in impact
        shot(page, "studio-publish-confirm")
        # the note is required
        with page.expect_navigation():
            page.evaluate("document.querySelector('#release-note').removeAttribute('required'); "
                          "document.querySelector('#publish-form').submit()")
        assert page.locator("#publish-error").count() == 1
        page.fill("#release-note", "增加司机（必填）与复核步骤")
        with page.expect_navigation():
            page.click("#confirm-publish")
        assert page.url.endswith("/studio/o/acme/t/forklift-check")
        assert "增加司机（必填）与复核步骤" in page.locator("table.versions-table").inner_text()
        shot(page, "studio-versions-release-notes")
        assert errors == [], errors
    with Session(app.extensions["workbench.engine"]) as s:
        v2 = s.exec(select(ProcessTemplate).where(ProcessTemplate.key == "forklift-check",
                                                  ProcessTemplate.version == 2)).one()
        note = s.exec(select(TemplateRelease).where(TemplateRelease.template_id == v2.id)).one()
        assert note.note == "增加司机（必填）与复核步骤" and any("1" in line for line in note.impact)


@pytest.fixture
def demo_app(app):
    with app.app_context():
        from workbench import demo

        demo.seed()
    return app


def test_auditor_issues_signs_and_revises_the_report(demo_app, tmp_path):
    app = demo_app
    with Session(app.extensions["workbench.engine"]) as s:
        eid = s.exec(select(Engagement)).first().id
    with live_server(app) as base, chromium() as ctx:
        errors: list[str] = []
        page = ctx.new_page()
        watch(page, errors)
        page.on("dialog", lambda d: d.accept())
        sign_in(page, base, "auditor@demo.example", DEMO_PASSWORD)
        url = f"{base}/o/demo/audit/e/{eid}/report"
        page.goto(url)
        assert page.locator("#print-report").count() == 1
        page.check("input[name=recommendation][value=continue]")
        page.fill("#statement", "体系运行基本有效；一项轻微不符合须在 30 天内纠正，验证后推荐保持认证。")
        page.fill("#issue-date", "2026-12-01")
        with page.expect_navigation():
            page.click("#save-conclusion")
        assert "体系运行基本有效" in page.locator("#report-conclusion").inner_text()
        # issuing before the team signed is refused, naming who is missing
        with page.expect_navigation():
            page.click("#issue-report")
        assert "孙立" in page.locator("#report-errors").inner_text()
        # a wrong password does not sign
        page.fill("#sign-password", "wrong-password")
        with page.expect_navigation():
            page.click("#sign-report")
        assert page.locator("#report-errors").count() == 1
        page.fill("#sign-password", DEMO_PASSWORD)
        with page.expect_navigation():
            page.click("#sign-report")
        assert "孙立" in page.locator("#report-conclusion .report-signatures").inner_text()
        with page.expect_navigation():
            page.click("#issue-report")
        assert page.locator("#report-issued").count() == 1
        assert page.locator("#conclusion-form").count() == 0  # frozen: nothing to edit
        shot(page, "audit-report-issued")
        with page.expect_download() as dl:
            page.click("#export-xlsx")
        path = tmp_path / "report.xlsx"
        dl.value.save_as(path)
        cells = [str(c.value) for row in load_workbook(path).worksheets[0].iter_rows() for c in row if c.value]
        assert any("体系运行基本有效" in c for c in cells) and any("孙立" in c for c in cells)

        # a later change needs a new revision with a reason
        page.click("#report-issued summary")
        page.fill("#revise-reason", "不符合已关闭，更新推荐意见")
        with page.expect_navigation():
            page.click("#start-revision")
        assert page.locator("#conclusion-form").count() == 1
        assert re.search(r"(修订版本|revision) 2", page.locator("#report-issue").inner_text())
        assert page.input_value("#statement").startswith("体系运行基本有效")  # the new revision starts from the issued conclusion
        assert "不符合已关闭" in page.locator("#report-issue").inner_text()
        shot(page, "audit-report-revision-2")

        # the phone, in English
        phone = ctx.browser.new_context(locale="en-US", viewport=PHONE)
        ppage = phone.new_page()
        watch(ppage, errors)
        sign_in(ppage, base, "auditor@demo.example", DEMO_PASSWORD)
        ppage.goto(url + "?lang=en")
        assert "Recommendation" in ppage.locator("#report-issue").inner_text()
        shot(ppage, "audit-report-phone-en")
        phone.close()
        assert errors == [], errors
    with Session(app.extensions["workbench.engine"]) as s:
        reps = s.exec(select(AuditReport).where(AuditReport.engagement_id == eid).order_by(AuditReport.revision)).all()
        assert [(r.revision, r.status) for r in reps] == [(1, "superseded"), (2, "draft")]
        assert reps[0].digest and "体系运行基本有效" in reps[0].content_html


def test_fields_reorder_by_drag_and_drop_and_keep_the_buttons(app, world):
    body = builder.new_template("dnd-check", "拖放", "Drag", [("ISO 9001:2015", "8.5.1")])
    body = builder.add_field(body, "a", "text", "甲", "A")
    body = builder.add_field(body, "b", "text", "乙", "B")
    draft_id = make_draft(app, world.acme, body)
    with live_server(app) as base, chromium() as ctx:
        errors: list[str] = []
        page = ctx.new_page()
        watch(page, errors)
        sign_in(page, base, world.users["consultant"].email, PASSWORD)
        page.goto(f"{base}/studio/o/acme/d/{draft_id}")
        assert page.locator("#b-b button[value='up:b']").count() == 1  # the keyboard way stays
        with page.expect_navigation():
            page.drag_and_drop("#b-b .drag-handle", "#b-date", target_position={"x": 40, "y": 5})
        titles = page.locator("form#builder article.fcard .ftitle").all_inner_texts()
        assert titles[:3] == ["乙", "日期", "甲"]
        shot(page, "studio-reordered")
        assert errors == [], errors
    with Session(app.extensions["workbench.engine"]) as s:
        assert builder.top_order(s.get(StudioDraft, draft_id).body) == ["b", "date", "a"]
