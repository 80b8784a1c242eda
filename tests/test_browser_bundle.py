"""Playwright: on the seeded demo, the auditor downloads the evidence bundle from the engagement page and
its verify.py passes under a plain python3; the report shows the sealed chain heads (desktop zh, 390 px en)."""
from __future__ import annotations

import shutil
import subprocess
import zipfile

import pytest

from tests.browser import ARTIFACTS, chromium, live_server, shot, sign_in
from workbench.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser
PYTHON = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or shutil.which("python3")


@pytest.fixture
def demo_app(app):
    with app.app_context():
        from workbench import demo

        demo.seed()
    return app


def test_auditor_downloads_a_bundle_that_verifies(demo_app, tmp_path):
    with live_server(demo_app) as base, chromium() as ctx:
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, base, "auditor@demo.example", DEMO_PASSWORD)
        page.goto(base + "/o/demo/audit/")
        page.click("table.data a[href*='/audit/e/']")
        page.wait_for_url("**/audit/e/*/")
        assert "下载证据包" in page.locator("#evidence-bundle").inner_text()
        with page.expect_download() as info:
            page.click("#evidence-bundle")
        path = tmp_path / "bundle.zip"
        info.value.save_as(path)
        shot(page, "audit-engagement-bundle")
        page.goto(page.url + "report")
        assert "封存的事件链链头" in page.locator("#report-seals").inner_text()
        shot(page, "audit-report-seals")
        page.locator("#report-seals").screenshot(path=str(ARTIFACTS / "audit-report-seals-section.png"))
        assert not errors, errors
    with zipfile.ZipFile(path) as z:
        z.extractall(tmp_path / "b")
    r = subprocess.run([PYTHON, "-I", "-S", "verify.py"], cwd=tmp_path / "b", capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("OK:"), r.stdout


def test_bundle_button_and_seals_on_a_phone_in_english(demo_app):
    with live_server(demo_app) as base, chromium("en-US") as ctx:
        page = ctx.new_page()
        page.set_viewport_size({"width": 390, "height": 844})
        sign_in(page, base, "auditor@demo.example", DEMO_PASSWORD)
        page.goto(base + "/o/demo/audit/?lang=en")
        page.click("table.data a[href*='/audit/e/']")
        page.wait_for_url("**/audit/e/*/")
        button = page.locator("#evidence-bundle")
        assert button.inner_text().strip() == "Download evidence bundle"
        shot(page, "audit-engagement-bundle-phone-en")
        # (the engagement page is wider than a phone because of its sample/finding tables — a layout issue
        # outside this test; the button itself stays inside its card)
        box, card = button.bounding_box(), page.locator("section.card:has(#evidence-bundle)").bounding_box()
        assert box["x"] >= card["x"] and box["x"] + box["width"] <= card["x"] + card["width"]
        page.goto(page.url + "report")
        assert "Sealed chain heads" in page.locator("#report-seals").inner_text()
        shot(page, "audit-report-seals-phone-en")
        page.locator("#report-seals").screenshot(path=str(ARTIFACTS / "audit-report-seals-section-phone-en.png"))
