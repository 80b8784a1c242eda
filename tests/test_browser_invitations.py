"""Playwright: a manager invites someone who has an account elsewhere (no name shown), the person accepts after
signing in, and signs out everywhere — desktop and 390 px phone, zh and en, no console errors or CSP
violations; screenshots in test-artifacts/."""
from __future__ import annotations

import pytest

from tests.browser import chromium, live_server, shot, sign_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

TEXT = {"zh": {"accept": "接受", "org": "乙公司", "everywhere": "在所有设备上退出"},
        "en": {"accept": "Accept", "org": "乙公司", "everywhere": "Sign out everywhere"}}


@pytest.mark.parametrize("lang,width", [("zh", 1280), ("en", 390)])
def test_invite_accept_and_sign_out_everywhere(app, world, lang, width):
    invitee = world.users["member"]
    with live_server(app) as base, chromium(locale="zh-CN" if lang == "zh" else "en-US") as ctx:
        problems: list[str] = []
        page = ctx.new_page()
        page.set_viewport_size({"width": width, "height": 900})
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        sign_in(page, base, world.users["outsider"].email, PASSWORD)
        page.goto(base + "/o/other/members")
        page.fill("#email", invitee.email)
        page.select_option("#role", "member")
        page.click("form.stack button[type=submit]")
        page.wait_for_load_state("networkidle")
        main = page.locator("main").inner_text()
        assert invitee.email in main and invitee.name not in main
        shot(page, f"members-invited-{lang}-{width}")

        other = ctx.browser.new_context(locale="zh-CN" if lang == "zh" else "en-US", viewport={"width": width, "height": 900})
        p2 = other.new_page()
        p2.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        sign_in(p2, base, invitee.email, PASSWORD)
        p2.goto(base + "/invitations")
        assert TEXT[lang]["org"] in p2.locator("main").inner_text()
        shot(p2, f"invitations-{lang}-{width}")
        p2.click("button[value=accept]")
        p2.wait_for_load_state("networkidle")
        p2.goto(base + "/o/other/")
        assert p2.url.endswith("/o/other/")
        p2.goto(base + "/account/password")
        shot(p2, f"password-sessions-{lang}-{width}")
        p2.get_by_role("button", name=TEXT[lang]["everywhere"]).click()
        p2.wait_for_load_state("networkidle")
        assert "/login" in p2.url
        p2.goto(base + "/o/other/")
        assert "/login" in p2.url
        other.close()
    assert problems == [], problems
