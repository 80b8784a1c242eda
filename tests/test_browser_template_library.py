"""Playwright: the coverage page marks the clauses the documented system itself serves and names untitled
sub-clauses "part of <parent title>", on a desktop and a 390 px phone, in zh and en."""
from __future__ import annotations

import pytest

from tests.browser import chromium, live_server, shot, sign_in
from tests.conftest import PASSWORD
from tests.test_audit_views import acme, create_engagement  # noqa: F401 (fixture)
from workbench import clauses

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lang,width", [("zh", 1280), ("en", 390)])
def test_coverage_marks_system_served_and_untitled_clauses(app, acme, client_for, lang, width):
    eid = create_engagement(client_for("manager"), standards=["ISO 9001:2015"], scope_clauses="")
    with live_server(app) as base, chromium(locale="zh-CN" if lang == "zh" else "en-US") as ctx:
        page = ctx.new_page()
        page.set_viewport_size({"width": width, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, base, acme.users["manager"].email, PASSWORD)
        page.goto(f"{base}/o/acme/audit/e/{eid}/coverage?detail=1&lang={'en' if lang == 'en' else 'zh_CN'}")
        table = page.locator("table.coverage")
        marked = table.locator(".cov-procs.system")
        assert marked.count() == len(clauses.system_served("ISO 9001:2015"))
        assert marked.first.locator("summary").inner_text() == ("由成文的体系本身满足" if lang == "zh" else "served by the documented system itself")
        marked.first.locator("summary").click()  # the explanation opens on a tap (no hover on a phone)
        assert marked.first.locator("p").inner_text() == clauses.served_by_system("ISO 9001:2015", "4.4")[lang]
        row = table.locator("tr", has=page.locator("th .clause-no", has_text="9.2.1"))
        assert ("属于内部审核" if lang == "zh" else "part of Internal audit") in row.inner_text()
        # a system-served clause is not counted among the clauses no process serves
        assert table.locator("tr.cov-uncovered", has=page.locator(".clause-no", has_text="7.5.1")).count() == 0
        page.locator("tr", has=page.locator(".clause-no", has_text="7.5.1")).first.locator("summary").click()
        page.locator("tr", has=page.locator(".clause-no", has_text="7.5.1")).first.scroll_into_view_if_needed()
        shot(page, f"coverage-system-served-{lang}-{width}")
        assert errors == [], errors


@pytest.mark.parametrize("lang,width", [("zh", 1280), ("en", 390)])
def test_new_forms_of_the_v2_library(app, world, lang, width):
    from workbench.templates import shipped_library

    lib = shipped_library()
    for key in ("calibration-record", "internal-audit", "compliance-evaluation", "quality-objectives"):
        world.add_template(lib[key], world.acme)
    with live_server(app) as base, chromium(locale="zh-CN" if lang == "zh" else "en-US") as ctx:
        page = ctx.new_page()
        page.set_viewport_size({"width": width, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, base, world.users["member"].email, PASSWORD)
        q = f"?lang={'en' if lang == 'en' else 'zh_CN'}"
        page.goto(f"{base}/o/acme/p/calibration-record/new{q}")
        main = page.locator("main").inner_text()
        for zh, en in (("检定/校准方式", "Verification / calibration type"), ("计量确认结论", "Metrological confirmation result"),
                       ("状态标识", "Status label"), ("量值溯源", "Measurement traceability")):
            assert (zh if lang == "zh" else en) in main
        assert page.locator("#f-status_label").is_visible()  # not hidden behind the result
        shot(page, f"form-calibration-v2-{lang}-{width}")
        page.goto(f"{base}/o/acme/p/internal-audit/new{q}")
        page.click("button[value='add:findings']")
        page.wait_for_selector("select[name='findings.0.clause']")
        options = page.locator("select[name='findings.0.clause'] option").all_inner_texts()
        assert ("9001 7.1.5.2 测量溯源" if lang == "zh" else "9001 7.1.5.2 Measurement traceability") in options
        assert ("9001 9.2.2 属于内部审核" if lang == "zh" else "9001 9.2.2 part of Internal audit") in options
        shot(page, f"form-internal-audit-v2-{lang}-{width}")
        # the widest v2 tables scroll inside their box on a phone, never the page
        for key, table in (("internal-audit", "findings"), ("compliance-evaluation", "obligations"), ("quality-objectives", "objectives")):
            if key != "internal-audit":
                page.goto(f"{base}/o/acme/p/{key}/new{q}")
                page.click(f"button[value='add:{table}']")
                page.wait_for_selector(f"[name^='{table}.0.']")
            assert page.evaluate("document.documentElement.scrollWidth") <= width, key
        assert errors == [], errors
