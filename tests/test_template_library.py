"""Issue #16: the clause catalogue (untitled sub-clauses, clauses served by the documented system itself), every
clause served, and the rules the v2 library templates enforce (D = L × E × C, nc_count, conditionals)."""
from __future__ import annotations

import copy

import pytest

from forms.validate import validate
from workbench import clauses
from workbench.audit.coverage import compute
from workbench.audit.sampling import serves
from workbench.formats import record_validator
from workbench.templates import shipped_library, validate_template
from tests.test_audit_views import acme, create_engagement  # noqa: F401 (fixture)

UNTITLED_9001 = ["4.4.1", "4.4.2", "6.1.1", "6.1.2", "6.2.1", "6.2.2", "7.5.3.1", "7.5.3.2", "8.2.3.1", "8.2.3.2",
                 "8.7.1", "8.7.2", "9.2.1", "9.2.2", "10.2.1", "10.2.2"]


def lib():
    return shipped_library()


def example(key: str, i: int = 0) -> dict:
    return copy.deepcopy(lib()[key]["examples"][i])


def errors(key: str, data: dict, lang: str = "zh") -> dict[str, list[str]]:
    return validate(lib()[key]["schema"], data, lang)


# --- catalogue ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("clause", UNTITLED_9001)
def test_untitled_sub_clauses_show_as_part_of_their_parent(clause):
    parent = clause.rsplit(".", 1)[0]
    assert clauses.untitled("ISO 9001:2015", clause)
    assert clauses.title("ISO 9001:2015", clause, "zh") == "属于" + clauses.title("ISO 9001:2015", parent, "zh")
    assert clauses.title("ISO 9001:2015", clause, "en") == "part of " + clauses.title("ISO 9001:2015", parent, "en")
    # every reader of the catalogue (studio clause lists, reports) sees the same text, never an invented title
    assert clauses.catalogue()["ISO 9001:2015"]["clauses"][clause]["zh"].startswith("属于")


def test_only_those_sixteen_are_untitled_and_titled_ones_keep_their_title():
    for s in clauses.STANDARDS:
        marked = [c for c in clauses.catalogue()[s]["clauses"] if clauses.untitled(s, c)]
        assert marked == (UNTITLED_9001 if s == "ISO 9001:2015" else [])
    assert clauses.title("ISO 14001:2015", "9.2.2", "en") == "Internal audit programme"
    assert clauses.title("ISO 9001:2015", "9.2", "zh") == "内部审核"


@pytest.mark.parametrize("standard", clauses.STANDARDS)
def test_every_clause_is_served_by_a_template_or_marked_as_served_by_the_system(standard):
    templates = list(lib().values())
    missing = [c for c in clauses.catalogue()[standard]["clauses"]
               if not any(serves(t["clauses"], standard, c) for t in templates) and not clauses.served_by_system(standard, c)]
    assert not missing, f"{standard}: neither a template nor the system serves {missing}"


def test_the_system_marking_explains_itself_in_both_languages():
    for s in clauses.STANDARDS:
        for c in clauses.system_served(s):
            text = clauses.served_by_system(s, c)
            assert text["zh"].startswith("由成文的体系本身满足") and text["en"].startswith("Served by the documented system itself")
    assert clauses.system_served("ISO 9001:2015") == ["4.4", "4.4.1", "4.4.2", "5.1.2", "7.5.1"]
    assert clauses.served_by_system("ISO 9001:2015", "8.5.4") is None


@pytest.mark.parametrize("standard,clause,key", [
    ("ISO 9001:2015", "7.1.1", "management-review"), ("ISO 14001:2015", "7.1", "management-review"),
    ("ISO 45001:2018", "7.1", "management-review"), ("ISO 9001:2015", "7.1.2", "competence-matrix"),
    ("ISO 9001:2015", "7.1.4", "work-environment"), ("ISO 9001:2015", "8.3.1", "design-development"),
    ("ISO 9001:2015", "8.4.3", "purchase-order"), ("ISO 9001:2015", "8.5.4", "preservation-check"),
    ("ISO 9001:2015", "8.5.5", "after-sales-service"), ("ISO 14001:2015", "8.2", "emergency-plan")])
def test_formerly_unserved_clauses_have_a_template(standard, clause, key):
    assert serves(lib()[key]["clauses"], standard, clause)


def test_coverage_marks_system_served_rows_and_does_not_count_them_uncovered():
    rows = [("ISO 9001:2015", "7.5.1"), ("ISO 9001:2015", "8.5.4")]
    cov = compute(rows, ["2026-01"], [], {}, {})
    by = {r.clause: r for r in cov.rows}
    assert by["7.5.1"].system and by["8.5.4"].system is None
    assert [r.clause for r in cov.uncovered] == ["8.5.4"]


def test_coverage_page_shows_the_marking(acme, client_for):
    manager = client_for("manager")
    eid = create_engagement(manager, standards=["ISO 9001:2015"], scope_clauses="9001 7.5.1, 9001 8.5.4")
    html = manager.get(f"/o/acme/audit/e/{eid}/coverage").get_data(as_text=True)
    assert "由成文的体系本身满足" in html and clauses.served_by_system("ISO 9001:2015", "7.5.1")["zh"] in html
    assert html.count('class="cov-uncovered"') == 1  # 8.5.4 (acme adopted no process for it), not 7.5.1


# --- D = L × E × C ----------------------------------------------------------------------------------------


def test_hazard_risk_value_must_be_the_product():
    data = example("hazard-risk-assessment")
    assert errors("hazard-risk-assessment", data) == {}
    data["hazards"][0]["d"] = 120  # 3 × 6 × 7 = 126
    assert errors("hazard-risk-assessment", data) == {"hazards.0.d": ["应等于 L 可能性 × E 暴露频繁程度 × C 后果 的乘积：126"]}
    assert errors("hazard-risk-assessment", data, "en")["hazards.0.d"] == ["Must equal L likelihood × E exposure × C consequence = 126"]


@pytest.mark.parametrize("l,e,c,d,ok", [(0.1, 3, 7, 2.1, True), (0.5, 3, 15, 22.5, True), (10, 10, 100, 10000, True),
                                        (0.2, 0.5, 1, 0.1, True), (0.5, 3, 7, 10, False), (1, 1, 1, 0, False)])
def test_product_check_tolerates_float_rounding_only(l, e, c, d, ok):
    data = example("hazard-risk-assessment")
    data["hazards"] = [{"hazard": "x", "l": l, "e": e, "c": c, "d": d}]
    assert ("hazards.0.d" not in errors("hazard-risk-assessment", data)) is ok


def test_product_check_skips_rows_that_are_not_numbers_yet():
    data = example("hazard-risk-assessment")
    data["hazards"] = [{"hazard": "x", "l": 3, "e": 6, "c": 7}]  # d not filled: the required/type rules speak, not this one
    assert errors("hazard-risk-assessment", data)["hazards.0.d"] == ["此项为必填"]


@pytest.mark.parametrize("top_d,level", [(18, "1"), (20, "2"), (45, "2"), (70, "3"), (126, "3"), (160, "4"), (320, "5"), (1200, "5")])
def test_hazard_level_follows_the_largest_d(top_d, level):
    data = example("hazard-risk-assessment", 1)
    data["hazards"] = [{"hazard": "a", "l": 1, "e": 1, "c": 1, "d": 1}, {"hazard": "b", "l": top_d, "e": 1, "c": 1, "d": top_d}]
    data["hazards"][1]["l"] = top_d  # (not a choice of L: only the level rule is under test here)
    data["max_level"], data["controls_needed"] = level, level in ("3", "4", "5")
    errs = errors("hazard-risk-assessment", data)
    assert "max_level" not in errs and "controls_needed" not in errs
    data["max_level"] = "1" if level != "1" else "2"
    assert errors("hazard-risk-assessment", data)["max_level"][0].startswith("按最大的“D 风险值（L×E×C）”应为：")


def test_level_three_and_above_needs_controls():
    data = example("hazard-risk-assessment")
    assert data["max_level"] == "3"
    data["controls_needed"] = False
    assert "controls_needed" in errors("hazard-risk-assessment", data)


@pytest.mark.parametrize("key,field", [("calibration-record", "status_label"), ("hazard-risk-assessment", "controls_needed")])
def test_fields_whose_value_a_rule_fixes_are_not_hidden_in_the_form(key, field):
    from werkzeug.datastructures import MultiDict

    from forms.widgets import FormBuilder

    built = FormBuilder(lib()[key]["schema"], lib()[key].get("ui"), MultiDict(), {})
    assert field in lib()[key]["schema"]["properties"] and field not in built.conditions


def test_a_rule_naming_a_missing_or_non_number_field_is_a_template_error():
    t = copy.deepcopy(lib()["hazard-risk-assessment"])
    t["schema"]["properties"]["hazards"]["items"]["products"] = {"d": ["l", "hazard", "x"]}
    msgs = {(e.path, e.message) for e in validate_template(t)}
    assert ("$.schema.properties.hazards.items.products.d[1]", "factor 'hazard' is not a number field of this object") in msgs
    assert ("$.schema.properties.hazards.items.products.d[2]", "factor 'x' is not a number field of this object") in msgs
    t = copy.deepcopy(lib()["internal-audit"])
    t["schema"]["counts"]["nc_count"]["where"] = {"grade": ["critical"]}
    assert any(e.path == "$.schema.counts.nc_count.where.grade" for e in validate_template(t))
    t = copy.deepcopy(lib()["hazard-risk-assessment"])
    t["schema"]["maxBand"]["max_level"]["bands"] = [[20, "2"], [320, "9"]]
    msgs = {(e.path, e.message) for e in validate_template(t)}
    assert ("$.schema.maxBand.max_level.bands", "bands must be in descending order of their lower bound") in msgs
    assert ("$.schema.maxBand.max_level.bands[1]", "'9' is not a choice of 'max_level'") in msgs


# --- what the other v2 records must capture -----------------------------------------------------------------


def test_internal_audit_nc_count_matches_the_findings_and_each_nc_names_its_corrective_action():
    data = example("internal-audit")
    assert errors("internal-audit", data) == {}
    data["nc_count"] = 3
    assert errors("internal-audit", data)["nc_count"] == ["应与“审核发现”中相应的行数一致：2"]
    data["nc_count"] = 2
    del data["findings"][0]["ca_no"]
    assert "findings.0.ca_no" in errors("internal-audit", data)
    data["findings"][0]["ca_no"] = "CA-2026-004"
    data["findings"][0]["clause"] = "7.1.5.2 计量"  # free text is no longer a clause reference
    assert "findings.0.clause" in errors("internal-audit", data)


def test_internal_audit_clause_choices_are_the_catalogue():
    choices = lib()["internal-audit"]["schema"]["properties"]["findings"]["items"]["properties"]["clause"]["enum"]
    want = [f"ISO {clauses.SHORT[s]} {c}" for s in clauses.STANDARDS
            for c in sorted(clauses.catalogue()[s]["clauses"], key=clauses.sort_key) if "." in c]
    assert choices == want


def test_calibration_limited_needs_impact_assessment_and_status_follows_the_result():
    data = example("calibration-record", 1)
    assert data["result"] == "limited" and errors("calibration-record", data) == {}
    del data["impact_assessment"]
    assert "impact_assessment" in errors("calibration-record", data)
    data = example("calibration-record", 2)
    assert data["result"] == "fail"
    data["status_label"] = "qualified"  # a gauge found unfit cannot carry a green label
    assert "status_label" in errors("calibration-record", data)
    data = example("calibration-record", 1)
    del data["reference_standard"]  # internal calibration names its traceable reference standard
    assert "reference_standard" in errors("calibration-record", data)


def test_the_inspection_made_with_the_failed_gauge_can_be_found():
    failed = next(e for e in lib()["calibration-record"]["examples"] if e["result"] == "fail")
    used = [e for e in lib()["production-inspection"]["examples"] if any(i["gauge_no"] == failed["instrument_no"] for i in e["items"])]
    assert used and all(i.get("gauge_no") for e in lib()["production-inspection"]["examples"] for i in e["items"])
    data = example("production-inspection")
    del data["items"][0]["gauge_no"]
    assert "items.0.gauge_no" in errors("production-inspection", data)


def test_licence_without_expiry_is_recordable_and_one_with_expiry_needs_the_date():
    ex = [e for e in lib()["licence-permit"]["examples"] if e["no_expiry"]]
    assert {e["licence_type"] for e in ex} == {"eia_approval", "eia_acceptance"} and all("expiry_date" not in e for e in ex)
    data = example("licence-permit")
    del data["expiry_date"]
    assert "expiry_date" in errors("licence-permit", data)


@pytest.mark.parametrize("key,field,value,needs", [
    ("quality-objectives", "objectives.2.achieved", False, "objectives.2.missed_action"),
    ("design-development", "changes_made", True, "change_authorized_by"),
    ("incident-investigation", "ca_required", True, "worker_ca_participation"),
    ("management-review", "communicated_to_workers", True, "communication_method"),
    ("competence-matrix", "all_met", False, "development_plan"),
    ("environmental-aspects", "aspects.0.tense", None, "aspects.0.tense"),
])
def test_conditional_requirements(key, field, value, needs):
    data = example(key)
    node, *rest = field.split(".")
    parts = field.split(".")
    target = data
    for p in parts[:-1]:
        target = target[int(p)] if p.isdigit() else target[p]
    leaf = parts[-1]
    if value is None:
        target.pop(leaf, None)
    else:
        target[leaf] = value
    for p in ("missed_action", "change_authorized_by", "worker_ca_participation", "communication_method", "development_plan"):
        if needs.endswith(p):
            t2 = data
            for q in needs.split(".")[:-1]:
                t2 = t2[int(q)] if q.isdigit() else t2[q]
            t2.pop(p, None)
    assert needs in errors(key, data)


def test_design_change_is_authorized_with_a_signature():
    wf = lib()["design-development"]["workflow"]
    tr = next(t for t in wf["transitions"] if t["name"] == "authorize_change")
    assert tr["signature"] and "change_authorized_by" in tr["requires"] and tr["roles"] == ["manager"]


def test_zh_terminology():
    cal = lib()["calibration-record"]["schema"]["properties"]
    assert cal["calibration_type"]["label"]["zh"] == "检定/校准方式" and cal["calibration_date"]["label"]["zh"] == "检定/校准日期"
    assert cal["result"]["label"]["zh"] == "计量确认结论"
    assert lib()["quality-objectives"]["title"]["zh"].endswith("目标完成情况统计") or "目标完成情况统计" in lib()["quality-objectives"]["title"]["zh"]
    inc = lib()["incident-investigation"]
    assert inc["schema"]["properties"]["incident_type"]["enumLabels"]["injury"]["zh"] == "伤害事故"
    assert "工伤" not in str(inc["title"]) + str(inc["description"])
    asp = lib()["environmental-aspects"]["schema"]["properties"]["aspects"]["items"]["properties"]
    assert asp["condition"]["label"]["zh"] == "状态" and asp["tense"]["label"]["zh"] == "时态"


def test_changed_templates_are_new_versions_and_examples_stay_valid():
    changed = {"calibration-record", "production-inspection", "hazard-risk-assessment", "incident-investigation", "quality-objectives",
               "environmental-aspects", "licence-permit", "compliance-evaluation", "design-development", "internal-audit", "management-review",
               "emergency-drill"}
    for key, t in lib().items():
        assert t["version"] == (2 if key in changed else 1), key
        v = record_validator(t["schema"])
        assert all(v.is_valid(e) for e in t["examples"]), key


def test_licence_renewed_as_long_term_is_no_longer_due(app, db, world):
    from datetime import date

    from workbench import records, schedules

    body = lib()["licence-permit"]
    tpl = world.add_template(body, world.acme)
    first = dict(example("licence-permit"), licence_no="LIC-1", issue_date="2025-11-01", expiry_date="2026-10-31")
    with app.app_context():
        records.create(db, world.acme, tpl, first, world.users["member"])
        db.commit()
    assert {i.subject: i.status for i in schedules.due_items(db, world.acme, date(2026, 11, 24))} == {"LIC-1": "overdue"}
    renewed = {k: v for k, v in first.items() if k != "expiry_date"} | {"no_expiry": True, "issue_date": "2026-11-01"}
    with app.app_context():
        records.create(db, world.acme, tpl, renewed, world.users["member"])
        db.commit()
    assert [i for i in schedules.due_items(db, world.acme, date(2026, 11, 24)) if i.subject == "LIC-1"] == []


@pytest.mark.parametrize("lang,text", [("zh_CN", "应等于 L 可能性 × E 暴露频繁程度 × C 后果 的乘积：126"),
                                       ("en", "Must equal L likelihood × E exposure × C consequence = 126")])
def test_posted_hazard_with_a_wrong_d_is_refused_beside_the_field(app, world, client_for, lang, text):
    import forms
    from sqlmodel import func, select

    from tests.conftest import csrf_from
    from workbench.models import Record

    world.add_template(lib()["hazard-risk-assessment"], world.acme)
    c = client_for("member")
    token = csrf_from(c.get(f"/o/acme/p/hazard-risk-assessment/new?lang={lang}").get_data(as_text=True))
    data = example("hazard-risk-assessment")
    data["hazards"][0]["d"] = 12.6
    posted = forms.flatten(lib()["hazard-risk-assessment"]["schema"], data)
    posted.add("csrf_token", token)
    resp = c.post(f"/o/acme/p/hazard-risk-assessment/new?lang={lang}", data=posted)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert text in html, html[html.find("field-error") - 200:html.find("field-error") + 400]
    assert world.db.exec(select(func.count()).select_from(Record)).one() == 0
    data["hazards"][0]["d"] = 126
    posted = forms.flatten(lib()["hazard-risk-assessment"]["schema"], data)
    posted.add("csrf_token", token)
    assert c.post("/o/acme/p/hazard-risk-assessment/new", data=posted).status_code == 303


def test_competence_matrix_reminder_date_is_the_earliest_certificate_expiry():
    data = example("competence-matrix")
    data["certificates"].append({"name": "高处作业", "number": "T-2", "expiry": "2026-12-31"})
    assert errors("competence-matrix", data)["next_expiry"] == ["应为最早的“有效期至/复审日期”：2026-12-31"]
    data["next_expiry"] = "2026-12-31"
    assert errors("competence-matrix", data) == {}
    del data["next_expiry"]
    assert "next_expiry" in errors("competence-matrix", data)  # certificates listed: the reminder date is required
    no_certs = example("competence-matrix", 2)
    assert "certificates" not in no_certs and errors("competence-matrix", no_certs) == {}


@pytest.mark.parametrize("rules", [{"products": {"d": "l"}}, {"counts": {"n": ["x"]}}, {"maxBand": {"n": {"items": 3, "value": "v"}}},
                                   {"maxBand": {"n": {"items": "rows", "value": "k", "bands": [[1], "x", [None, 2]]}}},
                                   {"earliest": {"n": {}}}, {"counts": {"n": {"items": "rows", "where": {"k": ["a"]}}}}])
def test_malformed_rules_in_an_unvalidated_schema_never_crash_validation(rules):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "rows": {"type": "array"}}, **rules}
    assert list(record_validator(schema).iter_errors({"n": 1, "d": 2, "l": 3, "rows": [1, {"k": "a"}, None]})) is not None


# --- the studio builder keeps the rules right ---------------------------------------------------------------

RULED = ["hazard-risk-assessment", "internal-audit", "calibration-record", "competence-matrix", "quality-objectives",
         "management-review"]


def _all_paths(t: dict) -> list[str]:
    from workbench.templates import iter_fields

    return [".".join(p for p in path if p != "*") for path, _, _ in iter_fields(t["schema"])]


@pytest.mark.parametrize("key", RULED)
def test_removing_or_renaming_any_field_at_any_depth_keeps_ruled_templates_valid(key):
    from workbench.studio import builder

    t = lib()[key]
    for path in _all_paths(t):
        after = builder.remove_field(t, path)
        assert validate_template(after) == [], (path, [str(e) for e in validate_template(after)])
        renamed = builder.rename_field(t, path, "renamed_x")
        assert validate_template(renamed) == [], (path, [str(e) for e in validate_template(renamed)])


def test_a_renamed_factor_or_column_is_still_checked():
    from workbench.studio import builder

    t = builder.rename_field(lib()["hazard-risk-assessment"], "hazards.l", "likelihood")
    rows = t["schema"]["properties"]["hazards"]["items"]
    assert rows["products"] == {"d": ["likelihood", "e", "c"]}
    data = copy.deepcopy(t["examples"][0])
    data["hazards"][0]["d"] = 1
    assert "hazards.0.d" in validate(t["schema"], data)
    t = builder.rename_field(lib()["internal-audit"], "findings.grade", "severity")
    assert t["schema"]["counts"]["nc_count"]["where"] == {"severity": ["minor", "major"]}
    assert t["schema"]["properties"]["findings"]["items"]["allOf"][0]["if"]["properties"] == {"severity": {"enum": ["minor", "major"]}}
    t = builder.remove_field(lib()["internal-audit"], "findings.ca_no")
    assert "allOf" not in t["schema"]["properties"]["findings"]["items"]
    t = builder.remove_field(lib()["calibration-record"], "result")
    assert "dependentSchemas" not in t["schema"]
    t = builder.rename_field(lib()["calibration-record"], "status_label", "label_colour")
    blocks = t["schema"]["dependentSchemas"]["result"]["allOf"]
    assert all(list(b["then"]["properties"]) == ["label_colour"] for b in blocks)


def test_a_table_rule_naming_an_unknown_column_is_a_template_error():
    t = copy.deepcopy(lib()["internal-audit"])
    t["schema"]["properties"]["findings"]["items"]["allOf"][0]["then"]["required"] = ["ca_number"]
    assert any(e.path == "$.schema.properties.findings.items.allOf[0].then.required[0]" and "ca_number" in e.message
               for e in validate_template(t))


def test_an_installation_gets_the_new_versions_and_its_records_keep_their_own(app, db, world):
    from workbench import library, records
    from workbench.models import Record

    old = dict(copy.deepcopy(lib()["internal-audit"]), version=1)  # stands for the v1 an installation already has
    v1 = world.add_template(old)  # shipped (no organization), adopted by both organizations
    with app.app_context():
        rec = records.create(db, world.acme, v1, old["examples"][0], world.users["member"])
        db.commit()
    library.install_shipped(db)
    assert library.latest_shipped(db)["internal-audit"].version == 2
    assert library.adopted(db, world.acme, "internal-audit").id == v1.id  # a manager adopts v2 when ready
    assert db.get(Record, rec.id).template_id == v1.id
    updates = {cur.key: (cur.version, new.version) for cur, new in library.available_updates(db, world.acme) if cur}
    assert updates["internal-audit"] == (1, 2)


def test_management_review_needs_content_for_every_ticked_input():
    data = example("management-review", 1)
    assert errors("management-review", data) == {}
    data["input_details"] = data["input_details"][:1]
    msg = errors("management-review", data)["inputs"][0]
    assert msg.startswith("请在“各项输入的内容和趋势”中填写：") and "重要环境因素、危险源和风险" in msg
    assert errors("management-review", data, "en")["inputs"][0].startswith("Add a row to “Content and trend of each input” for:")


def test_removing_the_details_table_drops_the_covers_rule():
    from workbench.studio import builder

    t = builder.remove_field(lib()["management-review"], "input_details")
    assert "covers" not in t["schema"] and validate_template(t) == []
    t = builder.rename_field(lib()["management-review"], "input_details.input", "topic")
    assert t["schema"]["covers"] == {"inputs": {"items": "input_details", "value": "topic"}} and validate_template(t) == []
