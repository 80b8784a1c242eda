"""The studio pages: access rules, plain-form builder round trips (page -> post -> same template), the JSON
tab, the htmx preview, cloning, privacy of personal libraries, and the CSP rules (no inline script/style)."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from sqlmodel import Session, select
from werkzeug.datastructures import MultiDict

from tests.conftest import csrf_from, load_fixture
from workbench import library
from workbench.models import ProcessTemplate
from workbench.studio import builder
from workbench.studio.models import StudioDraft
from workbench.templates import load_file, LIBRARY_DIR


class FormScraper(HTMLParser):
    """What a browser would post for the form with the given id (no button pressed)."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.inside, self.values = form_id, False, []
        self._select: tuple[str, bool] | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
            return
        if not self.inside or "name" not in a and tag != "option":
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.values.append((a["name"], a.get("value", "on" if kind in ("checkbox", "radio") else "")))
        elif tag == "select":
            self._select, self._options = (a["name"], "multiple" in a), []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea":
            self._textarea, self._text = a["name"], ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select" and self._select is not None:
            name, multiple = self._select
            chosen = [v for v, sel in self._options if sel]
            if not chosen and not multiple and self._options:
                chosen = [self._options[0][0]]
            self.values += [(name, v) for v in (chosen if multiple else chosen[:1])]
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.values.append((self._textarea, self._text))
            self._textarea = None

    def handle_data(self, data):
        if self._textarea is not None:
            self._text += data


def scrape(html: str, form_id: str = "builder") -> MultiDict:
    p = FormScraper(form_id)
    p.feed(html)
    return MultiDict(p.values)


def put(form: MultiDict, values: dict) -> None:
    for k, v in values.items():
        form.setlist(k, [v])


def add_draft(app, body: dict, org=None, owner=None) -> int:
    with Session(app.extensions["workbench.engine"]) as s:
        d = StudioDraft(org_id=org.id if org else None, owner_user_id=owner.id if owner else None, key=body["key"], body=body)
        s.add(d)
        s.commit()
        return d.id


def draft_body(app, draft_id: int) -> dict | None:
    with Session(app.extensions["workbench.engine"]) as s:
        d = s.get(StudioDraft, draft_id)
        return d.body if d else None


@pytest.fixture
def shipped(app, db, world):
    library.install_shipped(db)
    library.adopt_library(db, world.acme)
    return library.latest_shipped(db)


def test_every_studio_route_has_a_policy(app):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("studio.")]
    assert len(rules) >= 20
    for rule in rules:
        assert getattr(app.view_functions[rule.endpoint], "policy", None), rule.rule


@pytest.mark.parametrize("role,status", [("member", 404), ("auditor", 404), ("consultant", 200), ("manager", 200),
                                         ("admin", 200), ("outsider", 200)])
def test_who_may_open_the_studio(client_for, shipped, role, status):
    resp = client_for(role).get("/studio/")
    assert resp.status_code == status
    if status == 200:
        html = resp.get_data(as_text=True)
        assert "internal-audit" in html  # the shipped library is listed
        assert ("甲公司" in html) == (role in ("consultant", "manager", "admin"))


def test_personal_library_is_for_consultants_and_private(app, world, client_for):
    c = client_for("consultant")
    token = csrf_from(c.get("/studio/").get_data(as_text=True))
    resp = c.post("/studio/mine/new", data={"csrf_token": token, "key": "my-check", "title_zh": "我的点检",
                                            "title_en": "My check", "standard": "ISO 9001:2015", "clause": "8.5.1"})
    assert resp.status_code == 303
    draft_url = resp.headers["Location"]
    assert c.get(draft_url).status_code == 200
    assert "my-check" in c.get("/studio/").get_data(as_text=True)
    m = client_for("manager")  # a manager authors the organization's templates but has no personal library
    token = csrf_from(m.get("/studio/").get_data(as_text=True))
    assert m.post("/studio/mine/new", data={"csrf_token": token, "key": "x-y", "title_zh": "x",
                                            "standard": "ISO 9001:2015", "clause": "8.5.1"}).status_code == 404
    other = world.user("consultant2@test", "another consultant", world.other, "consultant")
    from tests.conftest import login
    c2 = app.test_client()
    login(c2, other.email)
    assert c2.get(draft_url).status_code == 404  # not yours: not even confirmed to exist
    assert "my-check" not in c2.get("/studio/").get_data(as_text=True)


def test_other_tenants_drafts_are_invisible(app, world, client_for):
    draft_id = add_draft(app, load_fixture("kitchen-sink.json"), org=world.acme)
    outsider = client_for("outsider")
    assert outsider.get(f"/studio/o/acme/d/{draft_id}").status_code == 404
    assert outsider.get(f"/studio/o/other/d/{draft_id}").status_code == 404
    assert outsider.get(f"/studio/export?d={draft_id}").status_code == 404
    assert client_for("member").get(f"/studio/o/acme/d/{draft_id}").status_code == 403


@pytest.mark.parametrize("body", [load_fixture("kitchen-sink.json"), load_file(LIBRARY_DIR / "internal-audit.json"),
                                  load_file(LIBRARY_DIR / "calibration-record.json")], ids=lambda b: b["key"])
def test_builder_pages_post_back_unchanged(app, world, client_for, body):
    """Each tab of the builder, posted as the page shows it, leaves the template exactly as it was."""
    draft_id = add_draft(app, body, org=world.acme)
    c = client_for("consultant")
    for tab in ("fields", "settings", "workflow", "json"):
        page = c.get(f"/studio/o/acme/d/{draft_id}?tab={tab}")
        assert page.status_code == 200
        form = scrape(page.get_data(as_text=True))
        assert form.get("_part") == tab
        if tab != "json":
            expected = builder.to_form(body, [tab])
            assert sorted(form.items(multi=True)) == sorted(
                [(k, v) for k, v in form.items(multi=True) if k in ("csrf_token", "_tab", "_rev") or k.startswith("new:")]
                + list(expected.items(multi=True))), tab
        resp = c.post(f"/studio/o/acme/d/{draft_id}", data=form)
        assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]
        assert json.dumps(draft_body(app, draft_id), ensure_ascii=False) == json.dumps(body, ensure_ascii=False), tab


def test_json_tab_then_builder_loses_nothing(app, world, client_for):
    body = load_fixture("kitchen-sink.json")
    draft_id = add_draft(app, body, org=world.acme)
    c = client_for("consultant")
    edited = json.loads(json.dumps(body))
    edited["schema"]["properties"]["batch_no"]["pattern"] = "^B"
    edited["schema"]["dependentRequired"]["release_by"].append("batch_no")
    form = scrape(c.get(f"/studio/o/acme/d/{draft_id}?tab=json").get_data(as_text=True))
    form["json"] = json.dumps(edited, ensure_ascii=False, indent=1)
    assert c.post(f"/studio/o/acme/d/{draft_id}", data=form).status_code == 303
    assert draft_body(app, draft_id) == edited
    form = scrape(c.get(f"/studio/o/acme/d/{draft_id}").get_data(as_text=True))
    form["batch_no:label_zh"] = "生产批号"
    assert c.post(f"/studio/o/acme/d/{draft_id}", data=form).status_code == 303
    edited["schema"]["properties"]["batch_no"]["label"]["zh"] = "生产批号"
    assert draft_body(app, draft_id) == edited


def test_bad_json_is_not_saved(app, world, client_for):
    body = load_fixture("kitchen-sink.json")
    draft_id = add_draft(app, body, org=world.acme)
    c = client_for("consultant")
    form = scrape(c.get(f"/studio/o/acme/d/{draft_id}?tab=json").get_data(as_text=True))
    form["json"] = '{"key": "kitchen-sink",\n  "version": }'
    resp = c.post(f"/studio/o/acme/d/{draft_id}", data=form)
    assert resp.status_code == 422
    assert "第 2 行" in resp.get_data(as_text=True)  # the UI speaks zh_CN by default
    assert draft_body(app, draft_id) == body


def test_adding_fields_through_the_page(app, world, client_for):
    body = builder.new_template("forklift-check", "叉车点检", "Forklift check", [("ISO 45001:2018", "8.1.2")])
    draft_id = add_draft(app, body, org=world.acme)
    c = client_for("consultant")
    url = f"/studio/o/acme/d/{draft_id}"
    form = scrape(c.get(url).get_data(as_text=True))
    put(form, {"new::label_zh": "结论", "new::label_en": "Result", "new::type": "choice", "_action": "add:"})
    resp = c.post(url, data=form)
    assert resp.status_code == 303 and "focus=result" in resp.headers["Location"]
    form = scrape(c.get(url).get_data(as_text=True))
    put(form, {"new:result:label_zh": "x", "_action": "add:result"})  # a choice holds no fields
    assert c.post(url, data=form).status_code == 422
    form = scrape(c.get(url).get_data(as_text=True))
    form.setlist("result:opt_value", ["ok", "ng", ""])
    form.setlist("result:opt_zh", ["正常", "异常", ""])
    form.setlist("result:opt_en", ["OK", "Not OK", ""])
    put(form, {"new::label_zh": "处理措施", "new::label_en": "Action", "new::type": "textarea", "_action": "add:"})
    assert c.post(url, data=form).status_code == 303
    form = scrape(c.get(url).get_data(as_text=True))
    form["action:cond"] = builder.code("result", ["ng"])
    form["action:required"] = "1"
    assert c.post(url, data=form).status_code == 303
    t = draft_body(app, draft_id)
    assert builder.condition_of(t, "action") == ("result", ["ng"]) and builder.is_required(t, "action")
    assert [v for v, _ in builder._options_of(t["schema"]["properties"]["result"])] == ["ok", "ng"]
    form = scrape(c.get(url).get_data(as_text=True))
    form["_action"] = "up:action"
    resp = c.post(url, data=form)
    assert resp.status_code == 303, re.findall(r'field-error[^<]*<', resp.get_data(as_text=True))
    assert list(draft_body(app, draft_id)["schema"]["properties"]) == ["date", "action", "result"]


def test_invalid_builder_values_are_not_saved(app, world, client_for):
    body = load_fixture("kitchen-sink.json")
    draft_id = add_draft(app, body, org=world.acme)
    c = client_for("consultant")
    form = scrape(c.get(f"/studio/o/acme/d/{draft_id}").get_data(as_text=True))
    form["quantity:min"] = "lots"
    form["batch_no:label_zh"] = "批次"
    resp = c.post(f"/studio/o/acme/d/{draft_id}", data=form)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "enter a whole number" in html and 'value="lots"' in html and 'value="批次"' in html  # typed values kept
    assert draft_body(app, draft_id) == body


def test_preview_shows_the_form_and_errors_with_json_paths(app, world, client_for):
    body = load_fixture("kitchen-sink.json")
    draft_id = add_draft(app, body, org=world.acme)
    c = client_for("consultant")
    form = scrape(c.get(f"/studio/o/acme/d/{draft_id}").get_data(as_text=True))
    form["batch_no:label_zh"] = "生产批号"
    resp = c.post(f"/studio/o/acme/d/{draft_id}/preview", data=form, headers={"HX-Request": "true"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "生产批号" in html and 'id="f-batch_no"' in html
    assert "可发布为版本 1" in html
    assert 'id="berr-b-batch_no" hx-swap-oob="true"' in html
    assert draft_body(app, draft_id) == body  # the preview saves nothing
    # errors name the JSON path; the builder card and the preview field of the offending field are highlighted
    form = scrape(c.get(f"/studio/o/acme/d/{draft_id}?tab=json").get_data(as_text=True))
    broken = json.loads(json.dumps(body))
    broken["workflow"]["transitions"][0]["to"] = "done"
    broken["schema"]["properties"]["shift"]["enumLabels"].pop("night")
    form["json"] = json.dumps(broken)
    html = c.post(f"/studio/o/acme/d/{draft_id}/preview", data=form, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "$.workflow.transitions[0].to" in html and "unknown state &#39;done&#39;" in html
    assert "$.schema.properties.shift.enumLabels" in html and "no label for choice(s) [&#39;night&#39;]" in html
    # the JSON tab has no field cards: the answer refreshes no card slots (htmx would find no target for them)
    assert "hx-swap-oob" not in html
    assert 'class="field field-select has-error" id="f-shift-wrap"' in html  # and the preview field too


def test_clone_shipped_template_into_org_and_library(app, world, client_for, shipped):
    c = client_for("consultant")
    html = c.get("/studio/").get_data(as_text=True)
    token = csrf_from(html)
    tid = shipped["internal-audit"].id
    resp = c.post("/studio/o/acme/clone", data={"csrf_token": token, "source": f"t:{tid}"})
    assert resp.status_code == 303
    org_draft = int(resp.headers["Location"].rsplit("/", 1)[1])
    resp = c.post("/studio/mine/clone", data={"csrf_token": token, "source": f"t:{tid}"})
    mine = int(resp.headers["Location"].rsplit("/", 1)[1])
    with Session(app.extensions["workbench.engine"]) as s:
        a, b = s.get(StudioDraft, org_draft), s.get(StudioDraft, mine)
        assert (a.org_id, a.owner_user_id, a.base_template_id) == (world.acme.id, None, tid)
        assert (b.org_id, b.owner_user_id) == (None, world.users["consultant"].id)
        assert a.body == b.body == shipped["internal-audit"].body
    again = c.post("/studio/o/acme/clone", data={"csrf_token": token, "source": f"t:{tid}"})
    assert again.headers["Location"].endswith(f"/d/{org_draft}")  # one open draft per process
    # the personal copy can go to the organization too
    resp = c.post("/studio/o/other/clone", data={"csrf_token": token, "source": f"d:{mine}"})
    assert resp.status_code == 404  # not a consultant of "other"


def test_filters_by_standard_and_clause(client_for, shipped):
    c = client_for("consultant")
    html = c.get("/studio/?standard=ISO+14001:2015&clause=8.2").get_data(as_text=True)
    assert "emergency-drill" in html and "internal-audit" not in html
    html = c.get("/studio/?clause=9.2").get_data(as_text=True)
    assert "internal-audit" in html and "emergency-drill" not in html


def test_studio_pages_have_no_inline_script_or_style(app, world, client_for, shipped):
    draft_id = add_draft(app, load_fixture("kitchen-sink.json"), org=world.acme)
    c = client_for("consultant")
    tid = shipped["internal-audit"].id
    pages = ["/studio/", f"/studio/o/acme/d/{draft_id}", f"/studio/o/acme/d/{draft_id}?tab=settings",
             f"/studio/o/acme/d/{draft_id}?tab=workflow", f"/studio/o/acme/d/{draft_id}?tab=json",
             f"/studio/t/{tid}", "/studio/o/acme/t/internal-audit", "/studio/o/acme/import", "/studio/mine/import"]
    for url in pages:
        resp = c.get(url)
        assert resp.status_code == 200, url
        html = resp.get_data(as_text=True)
        assert " style=" not in html and "<style" not in html, url
        assert all('src="' in tag for tag in re.findall(r"<script[^>]*>", html)), url
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]


def test_export_pack_of_chosen_templates(app, world, client_for, shipped):
    draft_id = add_draft(app, load_fixture("kitchen-sink.json"), org=world.acme)
    c = client_for("consultant")
    resp = c.get(f"/studio/export?t={shipped['internal-audit'].id}&t={shipped['emergency-drill'].id}&d={draft_id}")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    pack = json.loads(resp.data)
    assert pack["format"] == "processbench-template-pack"
    assert [t["key"] for t in pack["templates"]] == ["internal-audit", "emergency-drill", "kitchen-sink"]


def test_discard_draft(app, world, client_for):
    draft_id = add_draft(app, load_fixture("kitchen-sink.json"), org=world.acme)
    c = client_for("manager")
    token = csrf_from(c.get(f"/studio/o/acme/d/{draft_id}").get_data(as_text=True))
    assert c.post(f"/studio/o/acme/d/{draft_id}/discard", data={"csrf_token": token}).status_code == 303
    assert draft_body(app, draft_id) is None
    with Session(app.extensions["workbench.engine"]) as s:
        assert s.exec(select(ProcessTemplate).where(ProcessTemplate.key == "kitchen-sink")).first() is None


@pytest.mark.parametrize("weird", [{"key": "x-y", "workflow": []}, {"schema": {"properties": {"a": {"type": "array", "items": [1]}}}},
                                   {"schema": 1, "ui": []}, {"key": "x-y", "schema": {"properties": {"a": 1}}}])
def test_malformed_drafts_open_in_the_json_tab(app, world, client_for, weird):
    """A draft saved from the JSON tab may be anything; the builder then opens on the JSON tab to fix it."""
    draft_id = add_draft(app, {"key": "x-y", **weird}, org=world.acme)
    c = client_for("consultant")
    for tab in ("fields", "settings", "workflow", "json"):
        resp = c.get(f"/studio/o/acme/d/{draft_id}?tab={tab}")
        assert resp.status_code == 200
    form = scrape(c.get(f"/studio/o/acme/d/{draft_id}").get_data(as_text=True))
    assert c.post(f"/studio/o/acme/d/{draft_id}/preview", data=form).status_code == 200
    form["json"] = json.dumps(load_fixture("kitchen-sink.json"))
    form["_part"] = "json"
    assert c.post(f"/studio/o/acme/d/{draft_id}", data=form).status_code == 303
    assert draft_body(app, draft_id)["key"] == "kitchen-sink"
