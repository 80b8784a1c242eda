"""Form generation: every template renders; valid data round-trips through the form post and is stored;
invalid data is rejected with a message next to the field and nothing is stored."""
from __future__ import annotations

import html as html_lib
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, func, select
from werkzeug.datastructures import MultiDict

import forms
from forms.values import DEFAULT_TZ
from tests.conftest import csrf_from, load_fixture
from tests.strategies import valid_records
from workbench.models import Record
from workbench.templates import library_files, load_file

TEMPLATES = [load_file(p) for p in library_files()] + [load_fixture("kitchen-sink.json")]
IDS = [t["key"] for t in TEMPLATES]


def normalize(value):
    """What a form can carry: empty strings, lists and objects are simply absent."""
    if isinstance(value, dict):
        out = {k: normalize(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in ("", [], {}, None)}
    if isinstance(value, list):
        out = [normalize(v) for v in value]
        return [v for v in out if v not in ("", [], {}, None)]
    return value


def test_library_has_at_least_20_templates():
    assert len(library_files()) >= 20


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_valid_data_round_trips_through_the_form(template, data):
    schema = template["schema"]
    record = data.draw(valid_records(schema))
    assert not forms.validate(schema, record, "en"), "strategy produced invalid data"
    posted = forms.flatten(schema, record)
    parsed, type_errors = forms.parse(schema, posted, "en", DEFAULT_TZ)
    assert type_errors == {}
    assert parsed == normalize(record)
    assert forms.validate(schema, parsed, "en") == {}


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_template_renders_every_field(template, lang, app):
    with app.test_request_context(f"/?lang={'en' if lang == 'en' else 'zh_CN'}"):
        from flask import render_template_string

        sections = forms.build_form(template["schema"], template.get("ui"), MultiDict(), {}, lang)
        html = render_template_string('{% import "forms/widgets.html" as fw %}{{ fw.render_sections(sections) }}',
                                      sections=sections)
    for name, field in template["schema"]["properties"].items():
        assert f'id="f-{name}-wrap"' in html, name
        assert forms.text(field["label"], lang) in html_lib.unescape(html)


# --- through the app ----------------------------------------------------------------------------


@pytest.fixture
def installed(app, world):
    """All templates (shipped + fixture) adopted by organization acme."""
    with app.app_context():
        rows = {t["key"]: world.add_template(t, world.acme) for t in TEMPLATES}
    return rows


def count_records(app, key):
    with Session(app.extensions["workbench.engine"]) as s:
        return s.exec(select(func.count()).select_from(Record).where(Record.template_key == key)).one()


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_posting_valid_and_invalid_data(template, app, installed, client_for):
    """For each template: 5 valid records are stored exactly; invalid variants store nothing."""
    c = client_for("member")
    key, schema = template["key"], template["schema"]
    token = csrf_from(c.get(f"/o/acme/p/{key}/new").get_data(as_text=True))

    @settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
    @given(record=valid_records(schema))
    def post_valid(record):
        before = count_records(app, key)
        posted = forms.flatten(schema, record)
        posted.add("csrf_token", token)
        resp = c.post(f"/o/acme/p/{key}/new", data=posted)
        assert resp.status_code == 303, _errors(resp)
        assert count_records(app, key) == before + 1
        with Session(app.extensions["workbench.engine"]) as s:
            stored = s.exec(select(Record).order_by(Record.id.desc())).first()
        assert stored.data == normalize(record)

    post_valid()

    # invalid: each required field missing -> its message, nothing stored
    base = template.get("examples", [None])[0] if template.get("examples") else None
    if base is None:
        pytest.skip("no example to mutate")
    for name in schema.get("required") or []:
        bad = {k: v for k, v in base.items() if k != name}
        before = count_records(app, key)
        posted = forms.flatten(schema, bad)
        posted.add("csrf_token", token)
        resp = c.post(f"/o/acme/p/{key}/new", data=posted)
        assert resp.status_code == 422
        html = resp.get_data(as_text=True)
        assert f'id="f-{name}-error"' in html, f"no error shown next to {name}"
        assert count_records(app, key) == before


def _errors(resp):
    return re.findall(r'class="field-error"[^>]*>([^<]*)<', resp.get_data(as_text=True))


# --- specific behaviours ----------------------------------------------------------------------


KS = load_fixture("kitchen-sink.json")


def test_type_errors_keep_what_the_user_typed(app, installed, client_for):
    c = client_for("member")
    token = csrf_from(c.get("/o/acme/p/kitchen-sink/new").get_data(as_text=True))
    resp = c.post("/o/acme/p/kitchen-sink/new", data={
        "csrf_token": token, "batch_no": "B-7", "inspected_on": "2026-02-30", "result": "pass",
        "quantity": "twelve", "temperature": "999"})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert 'value="twelve"' in html and 'value="B-7"' in html and 'value="2026-02-30"' in html
    errors = dict(re.findall(r'id="f-([\w-]+)-error" role="alert">([^<]*)<', html))
    assert errors["quantity"] == "请输入整数"
    assert errors["inspected_on"].startswith("请输入有效日期")
    assert errors["temperature"] == "不能大于 200"
    assert count_records(app, "kitchen-sink") == 0


def test_messages_in_english(app, installed, client_for):
    c = client_for("member")
    c.get("/?lang=en")
    token = csrf_from(c.get("/o/acme/p/kitchen-sink/new").get_data(as_text=True))
    resp = c.post("/o/acme/p/kitchen-sink/new", data={"csrf_token": token, "result": "fail"})
    html = resp.get_data(as_text=True)
    errors = dict(re.findall(r'id="f-([\w-]+)-error" role="alert">([^<]*)<', html))
    assert errors["batch_no"] == "This field is required"
    assert errors["nc_description"] == "This field is required"  # if result = fail then required
    assert "Applies when Result = Fail" in html


def test_conditional_and_dependent_required():
    schema = KS["schema"]
    base = {"batch_no": "B", "inspected_on": "2026-01-01", "result": "pass", "quantity": 1}
    assert forms.validate(schema, base, "zh") == {}
    assert forms.validate(schema, {**base, "result": "fail"}, "zh") == {"nc_description": ["此项为必填"]}
    no_date = {k: v for k, v in base.items() if k != "inspected_on"}
    errs = forms.validate(schema, {**no_date, "release_by": "王芳"}, "en")
    assert "Required when “Released by” is filled in" in errs["inspected_on"]


def test_rows_add_and_remove_without_javascript(app, installed, client_for):
    c = client_for("member")
    token = csrf_from(c.get("/o/acme/p/kitchen-sink/new").get_data(as_text=True))
    form = MultiDict([("csrf_token", token), ("batch_no", "B-9"), ("_action", "add:items")])
    html = c.post("/o/acme/p/kitchen-sink/new", data=form).get_data(as_text=True)
    assert 'name="items.0.item"' in html and 'value="B-9"' in html
    form = MultiDict([("csrf_token", token), ("batch_no", "B-9"), ("items.__row", "0"), ("items.0.item", "外径"),
                      ("_action", "add:items")])
    html = c.post("/o/acme/p/kitchen-sink/new", data=form).get_data(as_text=True)
    assert 'name="items.1.item"' in html and 'value="外径"' in html
    form = MultiDict([("csrf_token", token), ("items.__row", "0"), ("items.__row", "1"), ("items.0.item", "外径"),
                      ("items.1.item", "长度"), ("_action", "remove:items.0")])
    html = c.post("/o/acme/p/kitchen-sink/new", data=form).get_data(as_text=True)
    assert 'value="外径"' not in html and 'value="长度"' in html
    assert count_records(app, "kitchen-sink") == 0  # row actions never store


def test_htmx_row_action_returns_the_form_fragment(app, installed, client_for):
    c = client_for("member")
    token = csrf_from(c.get("/o/acme/p/kitchen-sink/new").get_data(as_text=True))
    resp = c.post("/o/acme/p/kitchen-sink/new", data={"csrf_token": token, "_action": "add:tags"},
                  headers={"HX-Request": "true"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and html.lstrip().startswith("<form") and "<html" not in html
    assert 'name="tags.0"' in html


def test_datetime_is_stored_with_the_organization_offset():
    data, errors = forms.parse(KS["schema"], MultiDict({"started_at": "2026-03-01T08:05"}), "en", DEFAULT_TZ)
    assert errors == {} and data["started_at"] == "2026-03-01T08:05:00+08:00"
    assert forms.flatten(KS["schema"], data)["started_at"] == "2026-03-01T08:05"


def test_multichoice_and_booleans_parse_to_typed_values():
    form = MultiDict([("defects", "burr"), ("defects", "size"), ("first_article", "false"), ("quantity", "3"),
                      ("temperature", "21.5")])
    data, errors = forms.parse(KS["schema"], form)
    assert errors == {}
    assert data == {"defects": ["burr", "size"], "first_article": False, "quantity": 3, "temperature": 21.5}


def test_labels_and_values_are_escaped(app, world, client_for):
    evil = json.loads(json.dumps(KS, ensure_ascii=False).replace("批号", "<script>alert(1)</script>"))
    evil["key"] = "evil"
    world.add_template(evil, world.acme)
    c = client_for("member")
    html = c.get("/o/acme/p/evil/new").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


ONE_OF = {
    "type": "object",
    "required": ["kind"],
    "properties": {
        "kind": {"type": "string", "enum": ["internal", "external"], "label": {"zh": "类别", "en": "Kind"},
                 "enumLabels": {"internal": {"zh": "内部", "en": "Internal"}, "external": {"zh": "外部", "en": "External"}}},
        "department": {"type": "string", "label": {"zh": "部门", "en": "Department"}},
        "supplier": {"type": "string", "label": {"zh": "供方", "en": "Supplier"}},
    },
    "oneOf": [
        {"properties": {"kind": {"const": "internal"}}, "required": ["department"]},
        {"properties": {"kind": {"const": "external"}}, "required": ["supplier"]},
    ],
}


def test_one_of_alternatives_show_conditions_and_field_errors():
    sections = forms.build_form(ONE_OF, None, MultiDict(), {}, "zh")
    widgets = {w.path: w for w in sections[0].widgets}
    assert widgets["department"].show_if.values == ["internal"] and widgets["department"].required_note
    assert widgets["supplier"].show_if.text == "类别 = 外部"
    assert forms.validate(ONE_OF, {"kind": "external"}, "en") == {"supplier": ["This field is required"]}
    assert forms.validate(ONE_OF, {"kind": "internal", "department": "质量部"}, "en") == {}


def test_column_widget_hints_and_merged_conditions():
    schema = {"type": "object", "properties": {
        "result": {"type": "string", "enum": ["a", "b", "c"], "label": {"zh": "结果", "en": "Result"},
                   "enumLabels": {"a": {"zh": "甲", "en": "A"}, "b": {"zh": "乙", "en": "B"}, "c": {"zh": "丙", "en": "C"}}},
        "why": {"type": "string", "label": {"zh": "原因", "en": "Why"}},
        "rows": {"type": "array", "label": {"zh": "行", "en": "Rows"}, "items": {"type": "object", "properties": {
            "note": {"type": "string", "label": {"zh": "备注", "en": "Note"}}}}}},
        "allOf": [{"if": {"properties": {"result": {"const": "b"}}, "required": ["result"]}, "then": {"required": ["why"]}},
                  {"if": {"properties": {"result": {"const": "c"}}, "required": ["result"]}, "then": {"required": ["why"]}}]}
    ui = {"widgets": {"rows.*.note": "textarea"}}
    values = MultiDict([("rows.__row", "0")])
    [section] = forms.build_form(schema, ui, values, {}, "en")
    w = {x.path: x for x in section.widgets}
    assert w["why"].show_if.values == ["b", "c"] and w["why"].show_if.text == "Result = B / C"
    assert w["rows"].rows[0][1][0].kind == "textarea"
