"""Playwright: the certification body's day on the seeded demo — portfolio → anomaly (its records) → client →
engagement (audit time), on desktop (zh) and on a 390 px phone (en) without sideways scrolling."""
from __future__ import annotations

import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS, chromium, live_server, shot, sign_in
from workbench.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_app(app):
    with app.app_context():
        from workbench import demo

        demo.seed()
    return app


def walk(page, base: str, tag: str) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, base, "cb@huaren.example", DEMO_PASSWORD)
    page.goto(base + "/o/huaren/")
    page.click("nav.mainnav a[href$='/portfolio/']")
    page.wait_for_url("**/portfolio/")
    cards = page.locator("section.client-card")
    assert cards.count() == 3
    assert cards.first.get_attribute("id") == "client-hengtai"  # the riskiest first
    shot(page, f"cb-portfolio-{tag}")
    # an anomaly of 恒泰: the records it rests on
    page.click("#client-hengtai a.anomaly-link >> nth=0")
    page.wait_for_url("**/anomaly?key=*")
    rows = page.locator("table.data tbody tr")
    assert rows.count() >= 1
    shot(page, f"cb-anomaly-{tag}")
    first = page.locator("table.data tbody a").first
    if first.count():
        first.click()
        page.wait_for_url("**/r/*")
        shot(page, f"cb-record-{tag}")
        page.go_back()
    # the client: certificates, readiness signals, anomalies, engagements
    page.click("p.crumbs a[href*='/portfolio/hengtai/']")
    page.wait_for_url("**/portfolio/hengtai/")
    assert "HR-Q-2025-0088" in page.locator("main").inner_text()
    shot(page, f"cb-client-{tag}")
    page.click("a.engagement-link >> nth=0")
    page.wait_for_url("**/portfolio/hengtai/e/*")
    shot(page, f"cb-engagement-{tag}")
    # the demo client's engagement carries an audit-time calculation
    page.goto(base + "/o/huaren/portfolio/demo/")
    page.click("a.engagement-link >> nth=0")
    page.wait_for_url("**/portfolio/demo/e/*")
    assert "IAF MD 11" in page.locator("table.audit-time").inner_text()
    shot(page, f"cb-engagement-audit-time-{tag}")
    assert not errors, errors


def test_cb_day_desktop(demo_app):
    with live_server(demo_app) as base, chromium() as ctx:
        walk(ctx.new_page(), base, "desktop")


def test_cb_day_phone(demo_app):
    from playwright.sync_api import sync_playwright

    with live_server(demo_app) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ctx = browser.new_context(locale="en-US", viewport={"width": 390, "height": 844}, is_mobile=True,
                                  device_scale_factor=2)
        try:
            page = ctx.new_page()
            walk(page, base, "phone")
            for url in ["/o/huaren/portfolio/", "/o/huaren/portfolio/hengtai/"]:
                page.goto(base + url + "?lang=en")
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= 392, (url, width)
            # the client's coverage page fits the phone without a nested scroll box
            page.goto(base + "/logout")
        finally:
            ctx.close()
            browser.close()


def test_coverage_fits_a_phone_without_a_nested_scroll_box(demo_app):
    from playwright.sync_api import sync_playwright

    with live_server(demo_app) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ctx = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True)
        try:
            page = ctx.new_page()
            sign_in(page, base, "auditor@demo.example", DEMO_PASSWORD)
            page.goto(base + "/o/demo/audit/")
            page.click("table.data a[href*='/audit/e/']")
            page.wait_for_url("**/audit/e/*/")
            page.goto(page.url + "coverage")
            assert page.evaluate("document.documentElement.scrollWidth") <= 392
            scrollers = page.evaluate("""[...document.querySelectorAll('main *')].filter(e => {
                const s = getComputedStyle(e); return (s.overflowX === 'auto' || s.overflowX === 'scroll' ||
                s.overflowY === 'auto' || s.overflowY === 'scroll') && e.scrollHeight > e.clientHeight + 2}).length""")
            assert scrollers == 0
            groups = page.locator("details.cov-group")
            assert groups.count() >= 10
            groups.first.locator(":scope > summary").click()  # collapsible
            assert groups.first.get_attribute("open") is None
            assert page.locator("td.cov-partial, td.cov-future").count() > 0  # the current month is marked
            shot(page, "coverage-phone")
        finally:
            ctx.close()
            browser.close()
