"""Playwright: on the seeded demo organization, the auditor opens the engagement, draws a sample (seeded,
previewed, verified), opens a sampled record, raises a minor nonconformity from it, and exports the report;
the downloaded xlsx holds the NC and the seed."""
from __future__ import annotations

import re

import pytest
from openpyxl import load_workbook
from sqlmodel import Session, select

from tests.browser import chromium, live_server, shot, sign_in
from workbench.audit import sampling
from workbench.audit.models import Finding, Sample
from workbench.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

STATEMENT = "抽查记录未见检验员签字，不符合放行要求（浏览器测试）"


@pytest.fixture
def demo_app(app):
    with app.app_context():
        from workbench import demo

        demo.seed()
    return app


def population_size(app, start: str, end: str) -> int:
    with Session(app.extensions["workbench.engine"]) as s:
        from workbench.models import Organization

        org = s.exec(select(Organization).where(Organization.slug == "demo")).one()
        return sampling.population(s, org.id, {"start": start, "end": end, "process": "production-inspection"}).size


def test_auditor_samples_raises_nc_and_exports(demo_app, tmp_path):
    app = demo_app
    with live_server(app) as base, chromium() as ctx:
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, base, "auditor@demo.example", DEMO_PASSWORD)
        page.click("nav.mainnav a[href$='/audit/']")
        page.wait_for_url("**/audit/")
        shot(page, "audit-index")
        page.click("table.data a[href*='/audit/e/']")
        page.wait_for_url("**/audit/e/*/")
        assert "华信认证" in page.locator("main").inner_text()
        shot(page, "audit-engagement")

        # draw a sample of production inspections: preview first, then draw with a chosen seed
        page.click("a[href$='/samples/new']")
        page.select_option("#process", "production-inspection")
        page.check("input[name=kind][value=sqrt]")
        page.select_option("select[name=audit_type]", "initial")
        page.fill("#seed", "8888")
        page.click("button[value=preview]")
        n = population_size(app, page.input_value("#start"), page.input_value("#end"))
        assert re.findall(r"\d+", page.locator(".preview").inner_text()) == [str(n), str(sampling.sqrt_size(n, "initial"))]
        shot(page, "audit-sample-form")
        page.click("button[value=draw]")
        page.wait_for_url("**/s/*")
        assert "8888" in page.locator("main").inner_text()
        page.click("#verify-sample")
        page.wait_for_selector(".verify.ok")
        shot(page, "audit-sample-verified")

        # open the first sampled record: the evidence as the organization saw it
        page.click("table.sample-table tbody tr:first-child a")
        page.wait_for_url("**/r/*")
        assert page.locator("#chain-status.ok").is_visible()
        assert page.locator("dl.values").first.is_visible()
        page.click("#raise-finding summary")
        page.check("input[name=grade][value=minor]")
        page.select_option("#f-standard", "ISO 9001:2015")
        page.fill("#f-clause", "8.6")
        page.fill("#f-statement", STATEMENT)
        page.click("#submit-finding")
        page.wait_for_selector(".audit-panel .grade-minor")
        shot(page, "audit-evidence-nc")

        # the report: printable page, then the xlsx download
        page.goto(page.url.split("/r/")[0] + "/report")
        assert STATEMENT in page.locator(".report").inner_text()
        page.emulate_media(media="print")
        assert page.locator(".topbar").is_hidden()
        shot(page, "audit-report-print")
        page.emulate_media(media="screen")
        with page.expect_download() as info:
            page.click("#export-xlsx")
        path = tmp_path / "report.xlsx"
        info.value.save_as(path)
        assert info.value.suggested_filename.endswith(".xlsx")
        page.goto(page.url.replace("/report", "/coverage"))
        shot(page, "audit-coverage")
        page.goto(page.url.replace("/coverage", "/readiness"))
        shot(page, "audit-readiness")
        assert errors == [], errors

    wb = load_workbook(path)
    cells = {str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None}
    assert STATEMENT in cells and "8888" in cells
    findings_sheet = wb.worksheets[3]
    rows = [r for r in findings_sheet.iter_rows(values_only=True) if r and STATEMENT in (r[5] or "")]
    assert rows and rows[0][3] == "8.6"
    with Session(app.extensions["workbench.engine"]) as s:
        f = s.exec(select(Finding).where(Finding.statement == STATEMENT)).one()
        sample = s.exec(select(Sample).where(Sample.seed == 8888)).one()
        assert f.grade == "minor" and f.evidence == [sample.drawn[0]] and f.sample_id == sample.id
