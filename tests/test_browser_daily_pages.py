"""At 390 px no page scrolls sideways (engagement, evidence, report, lists, forms, to-do, print, poster), and
axe-core finds no serious/critical violation on the studio builder, the engagement, a record and the to-do
page — on the seeded demo (the real amount of data), phone and desktop, zh and en."""
from __future__ import annotations

import pytest

from tests.browser import live_server, shot, sign_in
from tests.daily_browser import axe_serious, browser_context, sideways, watch_console
from workbench.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_app(app):
    from workbench.demo import seed

    with app.app_context():
        seed()
    return app


@pytest.mark.parametrize("viewport,locale", [("phone", "zh-CN"), ("desktop", "en")])
def test_pages_fit_the_phone_and_pass_axe(demo_app, viewport, locale):
    tag = f"pages-{viewport}-{locale[:2]}"
    with live_server(demo_app) as base, browser_context(viewport, locale) as ctx:
        page = ctx.new_page()
        console = watch_console(page)
        sign_in(page, base, "manager@demo.example", DEMO_PASSWORD)
        page.goto(base + "/o/demo/p/production-inspection/")
        record = page.locator("table.data tbody tr td a").first.get_attribute("href")
        page.goto(base + "/o/demo/audit/")
        eng = page.locator("a[href*='/audit/e/']").first.get_attribute("href")
        page.goto(base + eng)
        page.goto(base + page.locator("a[href*='/s/']").first.get_attribute("href"))
        evidence = page.locator("a[href*='/r/']").first.get_attribute("href")
        pages = {"dashboard": "/o/demo/", "todo": "/o/demo/todo", "list": "/o/demo/p/production-inspection/",
                 "form": "/o/demo/p/calibration-record/new", "record": record, "print": record + "/print",
                 "poster": "/o/demo/p/calibration-record/poster", "engagement": eng, "evidence": evidence,
                 "findings": eng + "findings", "report": eng + "report"}
        axe_on = {"dashboard", "todo", "form", "record", "engagement"}
        for name, url in pages.items():
            page.goto(base + url)
            page.wait_for_load_state("networkidle")
            shot(page, f"{tag}-{name}")
            if viewport == "phone":
                assert sideways(page) <= 0, f"{name}: {sideways(page)} px sideways"
            assert console == [], f"{name}: {console}"
            if name in axe_on:
                assert axe_serious(page, base, console) == [], name

        # the studio builder, as the consultant
        page.context.clear_cookies()
        sign_in(page, base, "consultant@demo.example", DEMO_PASSWORD)
        page.goto(base + "/studio/")
        page.click("#new > summary")
        page.fill("#new input[name=title_zh]", "叉车日常点检")
        page.fill("#new input[name=title_en]", "Forklift daily check")
        page.fill("#new input[name=key]", "forklift-daily-check")
        page.select_option("#new select[name=standard]", "ISO 45001:2018")
        page.fill("#new input[name=clause]", "8.1.2")
        with page.expect_navigation():
            page.click("#new button[formaction$='/studio/o/demo/new']")
        page.wait_for_load_state("networkidle")
        shot(page, f"{tag}-studio-builder")
        assert console == [], console
        assert axe_serious(page, base, console) == [], "studio builder"
