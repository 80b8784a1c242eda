"""Playwright: a member fills a generated form (with a repeating row added through htmx), submits, sees
the record; a submission missing a required field shows the message and stores nothing."""
from __future__ import annotations

import pytest
from sqlmodel import Session, func, select

from tests.browser import chromium, live_server, shot, sign_in
from tests.conftest import PASSWORD, load_fixture
from workbench.models import Record

pytestmark = pytest.mark.browser


def records(app):
    with Session(app.extensions["workbench.engine"]) as s:
        return s.exec(select(func.count()).select_from(Record)).one()


def test_fill_generated_form_with_rows_and_submit(app, world):
    world.add_template(load_fixture("kitchen-sink.json"), world.acme)
    with live_server(app) as base, chromium() as ctx:
        page = ctx.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, base, world.users["member"].email, PASSWORD)
        page.goto(base + "/o/acme/p/kitchen-sink/new")
        assert page.locator("h1").inner_text().startswith("新建记录")
        # conditional section is hidden until result = fail
        assert page.locator("#f-nc_description-wrap").is_hidden()
        page.fill("#f-batch_no", "B2026-1124")
        page.fill("#f-inspected_on", "2026-11-24")
        page.fill("#f-quantity", "480")
        page.check("input[name=result][value=fail]")
        assert page.locator("#f-nc_description-wrap").is_visible()
        page.fill("#f-nc_description", "外径超差 0.03mm，已隔离")
        # add a repeating row: htmx swaps the form in place, keeping what was typed
        page.click("button[value='add:items']")
        page.wait_for_selector("input[name='items.0.item']")
        assert page.input_value("#f-batch_no") == "B2026-1124"
        page.fill("input[name='items.0.item']", "外径 Φ25h7")
        page.fill("input[name='items.0.measured']", "24.97")
        page.click("button[value='add:items']")
        page.wait_for_selector("input[name='items.1.item']")
        page.fill("input[name='items.1.item']", "长度")
        page.click("button[value='remove:items.1']")
        page.wait_for_selector("input[name='items.1.item']", state="detached")
        shot(page, "form-filled")
        page.click("button[value=save]")
        page.wait_for_url("**/r/*")
        body = page.locator("main").inner_text()
        assert "B2026-1124" in body and "外径 Φ25h7" in body and "24.97" in body and "不合格" in body
        assert "事件链已验证" in body or "Event chain verified" in body
        shot(page, "record-detail")
        assert errors == [], errors
    assert records(app) == 1


def test_missing_required_field_shows_message_and_stores_nothing(app, world):
    world.add_template(load_fixture("kitchen-sink.json"), world.acme)
    with live_server(app) as base, chromium() as ctx:
        page = ctx.new_page()
        sign_in(page, base, world.users["member"].email, PASSWORD)
        page.goto(base + "/o/acme/p/kitchen-sink/new")
        page.fill("#f-batch_no", "B-1")
        page.fill("#f-quantity", "0")
        page.click("button[value=save]")
        page.wait_for_selector("#f-inspected_on-error")
        assert page.locator("#f-inspected_on-error").inner_text() == "此项为必填"
        assert page.locator("#f-quantity-error").inner_text() == "不能小于 1"
        assert page.input_value("#f-batch_no") == "B-1"  # what was typed is kept
        shot(page, "form-errors")
    assert records(app) == 0


def test_form_works_without_javascript(app, world):
    world.add_template(load_fixture("kitchen-sink.json"), world.acme)
    with live_server(app) as base, chromium() as ctx:
        nojs = ctx.browser.new_context(java_script_enabled=False, locale="en-US")
        page = nojs.new_page()
        sign_in(page, base, world.users["member"].email, PASSWORD)
        page.goto(base + "/o/acme/p/kitchen-sink/new")
        page.fill("#f-batch_no", "NOJS-1")
        page.click("button[value='add:items']")  # a plain form post re-renders with a new row
        page.wait_for_selector("input[name='items.0.item']")
        page.fill("input[name='items.0.item']", "Length")
        page.fill("#f-inspected_on", "2026-11-20")
        page.fill("#f-quantity", "3")
        page.check("input[name=result][value=pass]")
        page.click("button[value=save]")
        page.wait_for_url("**/r/*")
        assert "NOJS-1" in page.locator("main").inner_text()
        nojs.close()
    assert records(app) == 1
