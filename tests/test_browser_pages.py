"""Playwright over the seeded demo: the main pages render in zh and en without console errors or
Content-Security-Policy violations (htmx included); screenshots land in test-artifacts/."""
from __future__ import annotations

from datetime import date

import pytest

from tests.browser import chromium, live_server, shot, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_app(app):
    from workbench.demo import seed

    with app.app_context():
        seed(today=date(2026, 11, 24))
    return app


PAGES = [
    ("dashboard", "/o/demo/", {"zh": "逾期", "en": "Overdue"}),
    ("record-list", "/o/demo/p/production-inspection/?sort=date", {"zh": "生产与检验记录", "en": "Production"}),
    ("record-form", "/o/demo/p/corrective-action/new", {"zh": "纠正措施", "en": "Corrective action"}),
    ("members", "/o/demo/members", {"zh": "成员", "en": "Members"}),
]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_main_pages_render_cleanly(demo_app, lang):
    with live_server(demo_app) as base, chromium(locale="zh-CN" if lang == "zh" else "en-US") as ctx:
        page = ctx.new_page()
        problems = []
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        sign_in(page, base, "manager@demo.example", "demo123456")
        for name, path, expected in PAGES:
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            assert expected[lang] in page.locator("main").inner_text(), f"{path} ({lang})"
            shot(page, f"{name}-{lang}")
        # open the first record of the list and its history
        page.goto(base + "/o/demo/p/production-inspection/")
        page.locator("table.data tbody tr td a").first.click()
        page.wait_for_load_state("networkidle")
        assert page.locator(".chain.ok").count() == 1
        shot(page, f"record-detail-{lang}")
        assert page.evaluate("typeof htmx") == "object", "htmx is served and loaded"
    assert problems == [], problems
