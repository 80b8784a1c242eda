"""Browser helpers for the daily-loop tests: viewports, console-error capture, axe-core, sideways-scroll check."""
from __future__ import annotations

from contextlib import contextmanager

from tests.browser import CHROMIUM, CHROMIUM_ARGS

VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


@contextmanager
def browser_context(viewport: str = "desktop", locale: str = "zh-CN"):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ctx = browser.new_context(locale=locale, viewport=VIEWPORTS[viewport], accept_downloads=True,
                                  is_mobile=viewport == "phone", has_touch=viewport == "phone")
        try:
            yield ctx
        finally:
            ctx.close()
            browser.close()


EXPECTED_STATUS = "the server responded with a status of 422"  # a form with errors answers 422 by design


def watch_console(page) -> list[str]:
    """Collect console errors (CSP refusals included) and uncaught page errors. Chromium's own line for a 422
    (the form-with-errors status) is not an error of the page."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and EXPECTED_STATUS not in m.text else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def axe_serious(page, base: str, console: list[str] | None = None) -> list[str]:
    """Run axe-core (static/vendor/axe.min.js, from npm) on the page; serious and critical violations.

    axe itself sets style attributes while it measures (the page's CSP refuses them, and Chromium logs that):
    check the page's console before calling this; the refusals axe causes are dropped from `console`."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=base + "/static/vendor/axe.min.js")
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    page.evaluate("new Promise(r => setTimeout(r, 0))")
    if console is not None:
        console[:] = [m for m in console if "Applying inline style violates" not in m]
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes'][:3]]}" for v in result["violations"]
            if v["impact"] in ("serious", "critical")]


def sideways(page) -> int:
    """How many pixels the page is wider than the device's viewport (0: no sideways scrolling). A mobile
    browser widens its layout viewport to fit wide content, so compare with the emulated width, not innerWidth."""
    width = page.viewport_size["width"]
    return page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)") - width
