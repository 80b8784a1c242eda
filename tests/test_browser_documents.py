"""Playwright on the demo: the manager generates the documents and approves a procedure with an e-signature;
the auditor reads the procedure and the departures from the engagement (desktop zh, 390 px phone en)."""
from __future__ import annotations

import pytest

from tests.browser import chromium, live_server, shot, sign_in
from workbench.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_app(app):
    with app.app_context():
        from workbench import demo

        demo.seed()
    return app


def watch(page, errors: list[str]) -> None:
    page.on("pageerror", lambda e: errors.append(str(e)))
    # a 422 answer is the expected response to a wrong signature password
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "422" not in m.text else None)


def test_manager_generates_and_approves_then_auditor_reads(demo_app):
    with live_server(demo_app) as base, chromium() as ctx:
        page = ctx.new_page()
        errors: list[str] = []
        watch(page, errors)
        sign_in(page, base, "manager@demo.example", DEMO_PASSWORD)
        page.click("nav.mainnav a[href$='/docs/']")
        page.wait_for_url("**/docs/")
        page.click("text=生成管理手册和全部程序文件")
        page.wait_for_url("**/docs/")
        assert page.locator("table.register-table tbody tr").count() >= 30
        shot(page, "docs-register-zh")
        page.click("table.register-table a:has-text('内部审核')")
        page.wait_for_url("**/docs/d/*")
        assert page.locator(".doc-diagram svg").count() >= 1
        body = page.locator("main").inner_text()
        assert "每 12 个月至少一次" in body and "管理者" in body
        page.fill("#approve-password", "wrong password")
        page.click("form.approve-form button[type=submit]")
        assert page.locator(".error-summary").count() == 1
        page.fill("#approve-password", DEMO_PASSWORD)
        page.click("form.approve-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert "现行有效" in page.locator(".page-head h1").inner_text()
        shot(page, "docs-procedure-approved-zh")
        doc_path = page.url[len(base):]
        page.click("text=打印（A4）")
        page.wait_for_url("**/print*")
        assert page.locator(".sheet .doc-body").count() == 1
        shot(page, "docs-procedure-print-zh")
        assert not errors, errors

    with live_server(demo_app) as base, chromium() as ctx:
        page = ctx.new_page()
        errors = []
        watch(page, errors)
        sign_in(page, base, "auditor@demo.example", DEMO_PASSWORD)
        page.click("nav.mainnav a[href$='/audit/']")
        page.wait_for_url("**/audit/")
        page.click("table.data a[href*='/audit/e/']")
        page.wait_for_url("**/audit/e/*/")
        page.click("#engagement-departures")
        page.wait_for_url("**/docs/departures*")
        main = page.locator("main").inner_text()
        assert "PR-" in main and "内部审核" in main
        shot(page, "docs-departures-auditor-zh")
        page.goto(base + doc_path + "?in=zh")
        assert "approve-password" not in page.content()
        assert "内部审核" in page.locator("main").inner_text()
        shot(page, "docs-procedure-auditor-zh")
        assert not errors, errors


def test_phone_auditor_reads_procedure_and_departures_in_english(demo_app):
    with live_server(demo_app) as base, chromium(locale="en-US") as ctx:
        page = ctx.new_page()
        page.set_viewport_size({"width": 390, "height": 844})
        errors: list[str] = []
        watch(page, errors)
        sign_in(page, base, "manager@demo.example", DEMO_PASSWORD)
        page.goto(base + "/o/demo/docs/?lang=en")
        page.click("text=Generate the manual and all procedures")
        page.wait_for_url("**/docs/")
        page.click("table.register-table a:has-text('Management manual')")
        page.wait_for_url("**/docs/d/*")
        assert "Clause table" in page.locator("main").inner_text()
        page.fill("#approve-password", DEMO_PASSWORD)
        page.click("form.approve-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        shot(page, "docs-manual-phone-en")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, width
        page.goto(base + "/o/demo/docs/?lang=en")
        page.click("table.register-table a:has-text('Competence matrix')")
        page.wait_for_url("**/docs/d/*")
        page.fill("#approve-password", DEMO_PASSWORD)
        page.click("form.approve-form button[type=submit]")
        page.wait_for_load_state("networkidle")
        page.goto(base + "/o/demo/docs/departures?lang=en")
        main = page.locator("main").inner_text()
        assert "Written vs done" in main and "Competence matrix" in main
        assert page.locator("li.departure a").count() >= 1  # each departure links to its records
        shot(page, "docs-departures-phone-en")
        assert page.evaluate("document.documentElement.scrollWidth") <= 400
        assert not errors, errors
