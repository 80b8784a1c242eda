"""The studio builder: pure operations on a template dict keep it valid and renderable, and the builder's
form (to_form / apply_form) is a lossless view of any template."""
from __future__ import annotations

import copy
import json

import pytest
from werkzeug.datastructures import MultiDict

import forms
from tests.conftest import load_fixture
from workbench.formats import record_validator
from workbench.studio import builder as b
from workbench.templates import library_files, load_file, validate_template

LIBRARY = [load_file(p) for p in library_files()] + [load_fixture("kitchen-sink.json")]
IDS = [t["key"] for t in LIBRARY]


def renders(t: dict) -> list:
    sections = forms.build_form(t["schema"], t.get("ui"), MultiDict(), {}, "zh")
    return [w for s in sections for w in s.widgets]


def assert_ok(t: dict) -> None:
    assert validate_template(t) == [], validate_template(t)
    assert renders(t)


@pytest.fixture
def small() -> dict:
    """3 fields, one repeating table, one condition — what a consultant builds in a minute."""
    t = b.new_template("forklift-check", "叉车点检", "Forklift check", [("ISO 45001:2018", "8.1.2")])
    t = b.add_field(t, "result", "choice", "结论", "Result", required=True,
                    options=[("ok", "正常", "OK"), ("ng", "异常", "Not OK")])
    t = b.add_field(t, "checks", "table", "检查项", "Checks")
    t = b.add_field(t, "ok", "yesno", "合格", "OK", parent="checks", required=True)
    t = b.add_field(t, "action", "textarea", "处理措施", "Action taken")
    return b.set_condition(t, "action", "result", ["ng"], required=True)


def test_small_template_validates_renders_and_means_what_it_says(small):
    assert_ok(small)
    assert list(small["schema"]["properties"]) == ["date", "result", "checks", "action"]
    assert small["schema"]["allOf"] == [{"if": {"properties": {"result": {"const": "ng"}}, "required": ["result"]},
                                         "then": {"required": ["action"]}}]
    assert small["ui"]["widgets"] == {"action": "textarea"}
    widgets = {w.path: w for w in renders(small)}
    assert widgets["action"].kind == "textarea" and widgets["action"].show_if.field == "result"
    assert widgets["checks"].kind == "rows" and widgets["checks"].columns == ["项目", "合格 *"]
    check = record_validator(small["schema"])
    assert check.is_valid({"date": "2026-11-24", "result": "ok"})
    assert not check.is_valid({"date": "2026-11-24", "result": "ng"})  # shown, so required
    assert check.is_valid({"date": "2026-11-24", "result": "ng", "action": "停用报修"})


def test_original_is_never_modified(small):
    before = copy.deepcopy(small)
    b.add_field(small, "x", "text", "X", "X")
    b.remove_field(small, "result")
    b.rename_field(small, "result", "verdict")
    b.move_field(small, "action", "up")
    b.set_type(small, "result", "multichoice")
    b.set_condition(small, "action", None)
    assert small == before


@pytest.mark.parametrize("type_", b.TYPES)
def test_every_type_can_be_added_and_renders(type_):
    t = b.new_template("all-types", "类型", "Types", [("ISO 9001:2015", "8.5.1")])
    t = b.add_field(t, "f", type_, "字段", "Field", help_zh="说明", help_en="Help", required=True)
    assert_ok(t)
    assert b.type_of(t, "f") == type_
    if type_ not in b.CONTAINERS and type_ != "attachment":
        t = b.add_field(t, "rows", "table", "表", "Rows")
        t = b.add_field(t, "g", type_, "列", "Column", parent="rows")
        assert_ok(t)
        assert b.type_of(t, "rows.g") == type_


@pytest.mark.parametrize("old,new", [("text", "number"), ("choice", "multichoice"), ("multichoice", "choice"),
                                     ("textarea", "text"), ("yesno", "choice"), ("date", "table"), ("number", "section")])
def test_changing_type_keeps_label_help_and_options(old, new):
    t = b.new_template("types", "类型", "Types", [("ISO 9001:2015", "8.5.1")])
    t = b.add_field(t, "f", old, "字段", "Field", help_zh="说明", help_en="Help",
                    options=[("a", "甲", "A"), ("b", "乙", "B")] if "choice" in old else None)
    t["examples"] = [{"date": "2026-01-01"}]
    t2 = b.set_type(t, "f", new)
    assert_ok(t2)
    assert b.type_of(t2, "f") == new
    field = b.get_field(t2, "f")
    assert field["label"] == {"zh": "字段", "en": "Field"} and field["help"] == {"zh": "说明", "en": "Help"}
    if "choice" in old and "choice" in new:
        assert [v for v, _ in b._options_of(field)] == ["a", "b"]


def test_condition_on_a_choice_follows_option_and_type_changes(small):
    t = b.set_options(small, "result", [("ok", "正常", "OK"), ("hold", "待定", "Hold")])  # "ng" is gone
    assert "allOf" not in t["schema"] and b.condition_of(t, "action") is None
    assert_ok(t)
    t = b.set_type(small, "result", "text")  # a text field cannot drive a builder condition
    assert b.condition_of(t, "action") is None
    assert_ok(t)
    t = b.set_condition(small, "action", "result", ["ok", "ng"])
    assert b.condition_of(t, "action") == ("result", ["ok", "ng"])
    assert t["schema"]["allOf"][0]["if"]["properties"]["result"] == {"enum": ["ok", "ng"]}
    assert_ok(t)


def test_optional_conditional_field_is_only_shown(small):
    t = b.set_required(small, "action", False)
    assert t["schema"]["allOf"][0]["then"] == {"properties": {"action": {}}}
    assert b.condition_of(t, "action") == ("result", ["ng"]) and not b.is_required(t, "action")
    assert_ok(t)
    assert record_validator(t["schema"]).is_valid({"date": "2026-11-24", "result": "ng"})
    assert {w.path: w for w in renders(t)}["action"].show_if.values == ["ng"]
    t = b.set_condition(t, "action", None)
    assert "allOf" not in t["schema"] and "action" not in t["schema"]["required"]


def test_remove_and_rename_update_every_reference(small):
    t = b.set_schedule(small, {"every_months": 1, "date_field": "date"})
    t = b.set_list_columns(t, ["date", "result"])
    t = b.set_title_field(t, "result")
    t = b.add_transition(t, "close", ["submitted"], "approved", "关闭", "Close", ["manager"], requires=["result"])
    t["examples"] = [{"date": "2026-11-24", "result": "ng", "action": "停机", "checks": [{"item": "刹车", "ok": True}]}]
    assert_ok(t)
    r = b.rename_field(t, "result", "verdict")
    assert_ok(r)
    assert r["schema"]["allOf"][0]["if"]["properties"] == {"verdict": {"const": "ng"}}
    assert r["ui"]["title_field"] == "verdict" and r["ui"]["list_columns"] == ["date", "verdict"]
    assert r["workflow"]["transitions"][-1]["requires"] == ["verdict"] and r["examples"][0]["verdict"] == "ng"
    r = b.rename_field(t, "checks.ok", "passed")
    assert_ok(r)
    assert r["examples"][0]["checks"] == [{"item": "刹车", "passed": True}]
    d = b.remove_field(t, "result")
    assert_ok(d)
    assert "allOf" not in d["schema"] and "title_field" not in d["ui"] and "requires" not in d["workflow"]["transitions"][-1]
    d = b.remove_field(t, "date")
    assert_ok(d)
    assert "schedule" not in d and d["examples"] == [{"result": "ng", "action": "停机", "checks": [{"item": "刹车", "ok": True}]}]


def test_move_up_and_down(small):
    assert list(b.move_field(small, "action", "up")["schema"]["properties"]) == ["date", "result", "action", "checks"]
    assert list(b.move_field(small, "date", "up")["schema"]["properties"]) == ["date", "result", "checks", "action"]
    t = b.add_field(small, "note", "text", "备注", "Note", parent="checks")
    assert list(b.move_field(t, "checks.note", "up")["schema"]["properties"]["checks"]["items"]["properties"]) == \
        ["item", "note", "ok"]


def test_headings_take_fields_and_moves_cross_them(small):
    t = b.set_headings(small, [("基本信息", "Basics")])
    assert t["ui"]["sections"] == [{"title": {"zh": "基本信息", "en": "Basics"}, "fields": ["date", "result", "checks", "action"]}]
    t = b.set_headings(t, [("基本信息", "Basics"), ("处理", "Handling")])
    t = b.set_field_heading(t, "action", 1)
    assert_ok(t)
    t = b.add_field(t, "signed", "yesno", "已签字", "Signed")  # new fields join the last heading
    assert t["ui"]["sections"][1]["fields"] == ["action", "signed"]
    t = b.move_field(t, "action", "up")  # first of its heading: moves into the heading before
    assert t["ui"]["sections"][0]["fields"][-1] == "action" and t["ui"]["sections"][1]["fields"] == ["signed"]
    assert_ok(t)
    t = b.set_headings(t, [None, ("处理", "Handling")])  # removing a heading keeps its fields
    assert_ok(t)
    assert len(t["ui"]["sections"]) == 1 and set(t["ui"]["sections"][0]["fields"]) == set(t["schema"]["properties"])


def test_workflow_operations(small):
    t = b.add_state(small, "rejected", "已拒绝", "Rejected", final=True)
    t = b.add_transition(t, "reject", ["submitted"], "rejected", "拒绝", "Reject", ["manager"], comment="required",
                         signature=("拒绝签字", "Rejection"))
    assert_ok(t)
    t = b.rename_state(t, "submitted", "in_review")
    assert_ok(t)
    assert [tr["from"] for tr in t["workflow"]["transitions"]] == [["draft"], ["in_review"], ["in_review"], ["in_review"]]
    t = b.remove_state(t, "rejected")
    assert_ok(t)
    assert [tr["name"] for tr in t["workflow"]["transitions"]] == ["submit", "return", "approve"]
    with pytest.raises(b.BuilderError):
        b.add_transition(t, "submit", ["draft"], "approved", "x", "x", ["member"])  # duplicate name
    with pytest.raises(b.BuilderError):
        b.add_transition(t, "skip", ["draft"], "nowhere", "x", "x", ["member"])


def test_bad_operations_are_refused(small):
    for call in (lambda: b.add_field(small, "result", "text", "x", "x"),  # duplicate key
                 lambda: b.add_field(small, "Bad Key", "text", "x", "x"),
                 lambda: b.add_field(small, "x", "datum", "x", "x"),
                 lambda: b.add_field(small, "x", "table", "x", "x", parent="checks"),  # no tables in tables
                 lambda: b.set_condition(small, "action", "action", ["x"]),
                 lambda: b.set_condition(small, "checks.ok", "result", ["ok"]),
                 lambda: b.remove_field(b.new_template("one", "一", "One", [("ISO 9001:2015", "8.5.1")]), "date"),
                 lambda: b.set_options(small, "result", [("a", "甲", "A"), ("a", "乙", "B")])):
        with pytest.raises(b.BuilderError):
            call()


# --- the builder form is a lossless view of any template --------------------------------------------------


@pytest.mark.parametrize("template", LIBRARY, ids=IDS)
def test_untouched_builder_form_changes_nothing(template):
    form = b.to_form(template)
    after, errors, renamed = b.apply_form(template, form)
    assert errors == {} and renamed == {}
    assert json.dumps(after, ensure_ascii=False) == json.dumps(template, ensure_ascii=False)  # same keys, same order


def _edit(form: MultiDict, name: str, value: str) -> MultiDict:
    form = MultiDict(form)
    form.setlist(name, [value])
    return form


def test_json_edit_then_builder_edit_loses_nothing():
    t = load_fixture("kitchen-sink.json")
    # a power user adds things the builder does not show…
    t = copy.deepcopy(t)
    t["schema"]["properties"]["batch_no"]["pattern"] = "^B[0-9-]+$"
    t["schema"]["properties"]["tags"]["maxItems"] = 5
    t["workflow"]["transitions"][0]["comment"] = "none"
    assert validate_template(t) == []
    # …then a consultant edits a label and an option in the builder
    form = _edit(b.to_form(t), "batch_no:label_en", "Batch number")
    form.setlist("shift:opt_en", ["Day shift", "Night", ""])
    after, errors, _ = b.apply_form(t, form)
    assert errors == {}
    expected = copy.deepcopy(t)
    expected["schema"]["properties"]["batch_no"]["label"]["en"] = "Batch number"
    expected["schema"]["properties"]["shift"]["enumLabels"]["day"]["en"] = "Day shift"
    assert after == expected
    assert validate_template(after) == []


@pytest.mark.parametrize("name,value,check", [
    ("result:required", None, lambda t: "result" not in t["schema"]["required"]),
    ("quantity:max", "500", lambda t: t["schema"]["properties"]["quantity"]["maximum"] == 500),
    ("batch_no:maxlen", "", lambda t: "maxLength" not in t["schema"]["properties"]["batch_no"]),
    ("nc_description:cond", '["result",["fail"]]', lambda t: b.condition_of(t, "nc_description") == ("result", ["fail"])),
    ("release_by:cond", '["first_article",[true]]', lambda t: b.condition_of(t, "release_by") == ("first_article", [True])),
    ("shift:radio", "1", lambda t: t["ui"]["widgets"]["shift"] == "radio"),
    ("supplier.contact:key", "phone", lambda t: "phone" in t["schema"]["properties"]["supplier"]["properties"]),
    ("temperature:type", "integer", lambda t: t["schema"]["properties"]["temperature"]["type"] == "integer"),
    ("t:title_en", "Everything", lambda t: t["title"] == {"zh": "全部控件示例", "en": "Everything"}),
    ("sch:kind", "periodic", None),
])
def test_builder_form_edits(name, value, check):
    t = load_fixture("kitchen-sink.json")
    form = b.to_form(t)
    if value is None:
        form.poplist(name)
    else:
        form.setlist(name, [value])
    if name == "sch:kind":
        form.setlist("sch:every_months", ["6"])
        form.setlist("sch:date_field", ["inspected_on"])
        check = lambda t: t["schedule"] == {"every_months": 6, "date_field": "inspected_on"}  # noqa: E731
    after, errors, _ = b.apply_form(t, form)
    assert errors == {}
    assert check(after)
    assert validate_template(after) == []


def test_workflow_rows_add_rename_and_remove_states_and_steps():
    t = load_fixture("kitchen-sink.json")
    form = b.to_form(t)
    names = form.getlist("s:name")
    names[1] = "in_review"  # rename "submitted"
    names[-1] = "cancelled"  # the empty row adds a state
    form.setlist("s:name", names)
    zh, en = form.getlist("s:zh"), form.getlist("s:en")
    zh[-1], en[-1] = "已取消", "Cancelled"
    form.setlist("s:zh", zh)
    form.setlist("s:en", en)
    form.add("s:final", "")  # the new state is final
    last = int(form["x:count"]) - 1  # the empty step row adds a step
    for k, v in (("name", "cancel"), ("zh", "取消"), ("en", "Cancel"), ("to", "cancelled")):
        form.setlist(f"x{last}:{k}", [v])
    form.setlist(f"x{last}:from", ["draft"])
    form.setlist(f"x{last}:roles", ["manager"])
    form.setlist("x1:name", [""])  # clearing a name removes the step "return"
    after, errors, _ = b.apply_form(t, form)
    assert errors == {}
    wf = after["workflow"]
    assert list(wf["states"]) == ["draft", "in_review", "released", "cancelled"] and wf["states"]["cancelled"]["final"]
    assert [tr["name"] for tr in wf["transitions"]] == ["submit", "release", "cancel"]
    assert wf["transitions"][1]["from"] == ["in_review"]
    assert validate_template(after) == []


def test_invalid_inputs_are_reported_and_not_applied():
    t = load_fixture("kitchen-sink.json")
    form = b.to_form(t)
    form.setlist("quantity:min", ["many"])
    form.setlist("batch_no:key", ["inspected_on"])  # taken
    after, errors, _ = b.apply_form(t, form)
    assert set(errors) == {"quantity:min", "batch_no:key"}
    assert after["schema"]["properties"]["quantity"]["minimum"] == 1 and "batch_no" in after["schema"]["properties"]


def test_actions_of_the_builder_page(small):
    form = MultiDict({"new::label_zh": "操作员", "new::label_en": "Operator name", "new::type": "text"})
    t, focus = b.apply_action(small, "add:", form)
    assert focus == "operator_name" and b.get_field(t, "operator_name")["label"] == {"zh": "操作员", "en": "Operator name"}
    t, focus = b.apply_action(t, "add:checks", MultiDict({"new:checks:label_zh": "备注", "new:checks:type": "textarea"}))
    assert focus == "checks.field_3" and b.type_of(t, focus) == "textarea"  # a long column (maxLength > 200)
    t, _ = b.apply_action(t, "up:operator_name", MultiDict())
    t, _ = b.apply_action(t, "remove:result", MultiDict())
    assert_ok(t)
    assert list(t["schema"]["properties"]) == ["date", "checks", "operator_name", "action"]


@pytest.mark.parametrize("template", [t for t in LIBRARY if t["key"] in
                                      ("internal-audit", "calibration-record", "design-development", "supplier-evaluation",
                                       "kitchen-sink", "management-review")], ids=lambda t: t["key"])
def test_removing_or_renaming_any_field_keeps_library_templates_valid(template):
    for name in list(template["schema"]["properties"]):
        assert validate_template(b.remove_field(template, name)) == [], name
        assert validate_template(b.rename_field(template, name, "renamed_field")) == [], name


def test_errors_point_at_builder_fields(small):
    meta = copy.deepcopy(small)  # a meta-schema error…
    meta["schema"]["properties"]["checks"]["items"]["properties"]["ok"]["label"] = {"zh": "合格"}
    semantic = copy.deepcopy(small)  # …and one only the semantic checks find
    semantic["schema"]["properties"]["result"]["enumLabels"].pop("ng")
    for bad, field in ((meta, "checks.ok"), (semantic, "result")):
        errors = validate_template(bad)
        assert errors and {b.error_field(bad, e.path) for e in errors} == {field}, errors
        assert {b.error_tab(e.path) for e in errors} == {"fields"}
    assert b.error_tab("$.workflow.transitions[0].to") == "workflow" and b.error_tab("$.clauses[0].clause") == "settings"
