"""Issue #17 below the browser: the workflow diagram, a new state and step in one save, workflow.locked, the
truthful diff and its warnings, builder guards, the preview that drops stale answers, report issuance and the
evidence page's nonconformity guard."""
from __future__ import annotations

import re
from datetime import date

import pytest
from sqlmodel import select
from werkzeug.datastructures import MultiDict

from tests.conftest import PASSWORD
from tests.test_audit_views import acme, engaged, token  # noqa: F401  (fixtures)
from tests.test_studio_views import add_draft, scrape
from workbench.audit import issuance
from workbench.audit.models import Engagement, Finding
from workbench.audit.report_models import AuditReport
from workbench.diagram import workflow_svg
from workbench.errors import Conflict, Forbidden, UserError
from workbench.studio import builder, versions
from workbench.templates import validate_template


def small() -> dict:
    t = builder.new_template("forklift-check", "叉车点检", "Forklift check", [("ISO 45001:2018", "8.1.2")])
    return builder.add_field(t, "result", "choice", "结论", "Result", required=True,
                             options=[("ok", "正常", "OK"), ("ng", "异常", "Not OK")])


# --- the diagram ---------------------------------------------------------------------------------------------


def test_diagram_draws_states_steps_and_marks_without_script_or_style():
    t = small()
    t = builder.add_state(t, "verified", "已复核", "Verified", final=True)
    t = builder.add_transition(t, "verify", ["approved"], "verified", "复核", "Verify", ["manager"],
                               requires=["result"], signature=("复核确认", "Verification"))
    t["workflow"]["locked"] = ["verified"]
    zh, en = workflow_svg(t, "zh"), workflow_svg(t, "en")
    for svg in (zh, en):
        assert svg.startswith("<svg") and svg.endswith("</svg>")
        assert "<script" not in svg and "style=" not in svg and "on" + "click" not in svg
        assert 'class="wf-state wf-initial"' in svg  # draft: the initial state
        assert re.search(r'class="wf-state wf-final wf-locked" data-name="verified"', svg)
    assert "已复核" in zh and "复核确认" in zh and "须填：结论" in zh and "管理者" in zh and "锁定" in zh
    assert "Verified" in en and "Verification" in en and "needs: Result" in en and "manager" in en
    assert "wf-back" in zh  # "return" leads back to the draft: drawn dashed


def test_diagram_escapes_labels_and_survives_malformed_workflows():
    t = small()
    t["workflow"]["states"]["draft"]["label"] = {"zh": "<script>alert(1)</script>", "en": "a&b"}
    svg = workflow_svg(t, "zh")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "a&amp;b" in workflow_svg(t, "en")
    for body in ({}, {"workflow": None}, {"workflow": {"states": [], "transitions": "x"}},
                 {"workflow": {"initial": "x", "states": {"a": {}}, "transitions": [{"from": "a", "to": 3}]}}):
        assert workflow_svg(body).startswith("<svg")  # never raises


# --- a new state and a new step in one save --------------------------------------------------------------------


def _workflow_post(t: dict) -> MultiDict:
    return builder.to_form(t, ["workflow"])


def _new_rows(form: MultiDict, state: tuple, step: dict) -> MultiDict:
    """Fill the blank state row and the blank step row, as the page does."""
    items = list(form.items(multi=True))
    names = [k for k, _ in items if k == "s:name"]
    # the last s:* row is the blank one
    out, seen = [], {"s:name": 0, "s:zh": 0, "s:en": 0}
    for k, v in items:
        if k in seen:
            seen[k] += 1
            if seen[k] == len(names):
                v = dict(zip(("s:name", "s:zh", "s:en"), state))[k]
        out.append((k, v))
    form = MultiDict(out)
    i = int(form["x:count"]) - 1
    for k, v in step.items():
        form.setlist(f"x{i}:{k}", v if isinstance(v, list) else [v])
    return form


def test_a_state_and_a_step_into_it_in_one_save():
    t = small()
    form = _new_rows(_workflow_post(t), ("verified", "已复核", "Verified"),
                     {"name": "verify", "zh": "复核", "en": "Verify", "from": ["approved"], "to": "verified",
                      "roles": ["manager"]})
    form.add("s:final", "")
    form.add("s:locked", "")
    new, errors, _ = builder.apply_form(t, form)
    assert errors == {}
    wf = new["workflow"]
    assert wf["states"]["verified"] == {"label": {"zh": "已复核", "en": "Verified"}, "final": True}
    assert wf["transitions"][-1]["to"] == "verified" and wf["locked"] == ["verified"]
    assert validate_template(new) == []
    assert builder.apply_form(new, _workflow_post(new))[0] == new  # the page posts back unchanged


def test_a_step_without_target_names_its_row_and_changes_nothing_else():
    t = small()
    form = _new_rows(_workflow_post(t), ("verified", "已复核", "Verified"),
                     {"name": "verify", "from": ["approved"], "to": "", "roles": ["manager"]})
    _new, errors, _ = builder.apply_form(t, form)
    i = int(form["x:count"]) - 1
    assert list(errors) == [f"x{i}:to"] and "verify" in errors[f"x{i}:to"]


def test_locked_states_follow_renames_and_removal_and_are_validated():
    t = small()
    t = builder.set_locked(t, ["approved"])
    assert builder.rename_state(t, "approved", "done")["workflow"]["locked"] == ["done"]
    assert "locked" not in builder.remove_state(t, "approved")["workflow"]
    bad = builder.set_workflow(t)
    bad["workflow"]["locked"] = ["nowhere"]
    assert [e.path for e in validate_template(bad)] == ["$.workflow.locked[0]"]
    with pytest.raises(builder.BuilderError):
        builder.set_locked(t, ["nowhere"])


# --- builder guards ---------------------------------------------------------------------------------------------


def test_duplicate_sibling_labels_are_refused():
    t = small()
    with pytest.raises(builder.BuilderError):
        builder.add_field(t, "result2", "text", "结论", "Other")
    with pytest.raises(builder.BuilderError):
        builder.add_field(t, "other", "text", "其他", "Result")
    t = builder.add_field(t, "notes", "text", "备注", "Notes")
    with pytest.raises(builder.BuilderError):
        builder.set_label(t, "notes", "结论", "Notes")
    t = builder.add_field(t, "rows", "table", "明细", "Rows")
    assert builder.add_field(t, "note", "text", "备注", "Notes", "rows")  # a column may share a top-level label


def test_move_to_a_position_keeps_every_field():
    t = builder.add_field(builder.add_field(small(), "a", "text", "甲", "A"), "b", "text", "乙", "B")
    assert builder.top_order(t) == ["date", "result", "a", "b"]
    moved = builder.move_field_to(t, "b", 0)
    assert builder.top_order(moved) == ["b", "date", "result", "a"]
    assert builder.top_order(builder.apply_action(t, "moveto:a@1", MultiDict())[0]) == ["date", "a", "result", "b"]
    with pytest.raises(builder.BuilderError):
        builder.apply_action(t, "moveto:a@9", MultiDict())


# --- the diff ------------------------------------------------------------------------------------------------------


def test_diff_counters_match_the_rows_and_warn_for_existing_records(app):
    a = small()
    b = builder.add_field(a, "driver", "text", "司机", "Driver", required=True)
    b = builder.add_state(b, "verified", "已复核", "Verified", final=True)
    b["workflow"]["states"]["approved"].pop("final")
    b = builder.add_transition(b, "verify", ["approved"], "verified", "复核", "Verify", ["manager"])
    b = builder.set_schedule(b, {"every_months": 1, "date_field": "date"})
    with app.test_request_context("/?lang=zh_CN"):
        d = versions.diff(a, b, "zh")
        shown = len(d.fields) + len(d.template)
        assert d.count("added") + d.count("removed") + d.count("changed") == shown
        added = d.added[0]
        assert added.path == "driver" and ("type", "", "text") in added.changes and ("required", "", "yes") in added.changes
        texts = " ".join(c.after for c in d.template)
        assert "每 1 个月" in texts or "个月" in texts  # the schedule in the UI language
        assert "复核：已批准 → 已复核（管理者）" in texts
        assert "every" not in texts and "(manager)" not in texts
        warnings = " ".join(d.warnings)
        assert "终态" in warnings and "司机" in warnings and "计划" in warnings


# --- the preview drops answers for a page drawn from an older draft ---------------------------------------------------


def test_preview_from_a_stale_page_swaps_nothing(app, world, client_for):
    draft_id = add_draft(app, small(), org=world.acme)
    c = client_for("consultant")
    form = scrape(c.get(f"/studio/o/acme/d/{draft_id}").get_data(as_text=True))
    ok = c.post(f"/studio/o/acme/d/{draft_id}/preview", data=form, headers={"HX-Request": "true"})
    assert ok.status_code == 200 and "wf-diagram" in ok.get_data(as_text=True)
    save = MultiDict(form)
    save["result:label_zh"] = "检查结论"
    assert c.post(f"/studio/o/acme/d/{draft_id}", data=save).status_code == 303  # the draft changed
    stale = c.post(f"/studio/o/acme/d/{draft_id}/preview", data=form, headers={"HX-Request": "true"})
    assert stale.status_code == 204 and stale.get_data() == b""


def test_publish_refuses_a_confirmation_of_a_draft_changed_meanwhile(app, world, client_for):
    draft_id = add_draft(app, small(), org=world.acme)
    c = client_for("consultant")
    url = f"/studio/o/acme/d/{draft_id}"
    form = scrape(c.get(url).get_data(as_text=True))
    confirm = scrape(c.post(url + "/publish", data=form).get_data(as_text=True), "publish-form")
    confirm["note"] = "首版"
    other = client_for("manager")  # a second author saves the draft in between
    form2 = scrape(other.get(url).get_data(as_text=True))
    form2["result:label_en"] = "Verdict"
    assert other.post(url, data=form2).status_code == 303
    resp = c.post(url + "/publish", data=confirm)
    assert resp.status_code == 409 and "首版" in resp.get_data(as_text=True)  # the note is kept
    confirm = scrape(resp.get_data(as_text=True), "publish-form")
    assert c.post(url + "/publish", data=confirm).status_code == 303


# --- report issuance -----------------------------------------------------------------------------------------------


def test_report_is_signed_issued_frozen_and_revised(engaged, db, acme):  # noqa: F811
    _manager, _auditor, eid = engaged
    e = db.get(Engagement, eid)
    auditor = acme.users["auditor"]
    with pytest.raises(UserError):
        issuance.sign(db, e, auditor, PASSWORD)  # nothing to sign yet
    issuance.save_conclusion(db, e, auditor, "certify", "体系有效运行。", date(2026, 12, 1))
    with pytest.raises(UserError):
        issuance.sign(db, e, auditor, "not-the-password")
    with pytest.raises(Forbidden):
        issuance.sign(db, e, acme.users["manager"], PASSWORD)  # not on the team
    with pytest.raises(UserError):
        issuance.issue(db, e, auditor, lambda: "<p>x</p>")  # unsigned
    issuance.sign(db, e, auditor, PASSWORD)
    rep = issuance.save_conclusion(db, e, auditor, "continue", "体系有效运行；一项轻微不符合待关闭。", date(2026, 12, 1))
    assert issuance.valid_signatures(db, rep) == []  # the changed conclusion voids the signature
    issuance.sign(db, e, auditor, PASSWORD)
    rep = issuance.issue(db, e, auditor, lambda: "<article>报告</article>")
    db.commit()
    assert rep.status == "issued" and rep.digest and rep.content_html == "<article>报告</article>"
    with pytest.raises(Conflict):
        issuance.save_conclusion(db, e, auditor, "suspend", "改", date(2026, 12, 2))
    with pytest.raises(UserError):
        issuance.new_revision(db, e, auditor, "  ")
    new = issuance.new_revision(db, e, auditor, "不符合已关闭")
    db.commit()
    assert (new.revision, new.status, new.recommendation, new.reason) == (2, "draft", "continue", "不符合已关闭")
    rows = db.exec(select(AuditReport).where(AuditReport.engagement_id == eid).order_by(AuditReport.revision)).all()
    assert [(r.revision, r.status) for r in rows] == [(1, "superseded"), (2, "draft")]
    assert rows[0].content_html == "<article>报告</article>"  # the issued text never changes


def test_report_pages_refuse_the_organization_and_keep_input(engaged, acme):  # noqa: F811
    manager, auditor, eid = engaged
    url = f"/o/acme/audit/e/{eid}/report"
    data = {"csrf_token": token(auditor, url), "recommendation": "bogus", "statement": "保留这段话", "issue_date": ""}
    resp = auditor.post(url + "/conclusion", data=data)
    assert resp.status_code == 422 and "保留这段话" in resp.get_data(as_text=True)
    data = {"csrf_token": token(manager, url), "recommendation": "certify", "statement": "x", "issue_date": ""}
    assert manager.post(url + "/conclusion", data=data).status_code == 403  # the organization does not conclude
    assert auditor.post(url + "/issue", data={"csrf_token": token(auditor, url)}).status_code == 422


# --- evidence page -------------------------------------------------------------------------------------------------


def test_conforming_is_not_taken_for_a_record_with_a_nonconformity_unless_confirmed(engaged, db, acme):  # noqa: F811
    _manager, auditor, eid = engaged
    rid = acme.recs[0].id
    url = f"/o/acme/audit/e/{eid}/r/{rid}"
    data = {"csrf_token": token(auditor, url), "grade": "minor", "standard": "ISO 9001:2015", "clause": "8.6",
            "statement": "放行无签字", "evidence": str(rid), "record": str(rid)}
    assert auditor.post(f"/o/acme/audit/e/{eid}/findings", data=data).status_code == 303
    f = db.exec(select(Finding).where(Finding.engagement_id == eid)).first()
    page = auditor.get(url).get_data(as_text=True)
    assert 'id="nc-warning"' in page and f"#{f.number}" in page
    resp = auditor.post(url + "/check", data={"csrf_token": token(auditor, url)})
    assert resp.status_code == 422 and f"#{f.number}" in resp.get_data(as_text=True)
    resp = auditor.post(url + "/check", data={"csrf_token": token(auditor, url), "confirm_nc": str(f.id)})
    assert resp.status_code == 303


def test_every_shipped_template_draws_a_well_formed_diagram():
    import json
    import xml.etree.ElementTree as ET
    from pathlib import Path

    for path in sorted(Path(__file__).resolve().parent.parent.glob("process_templates/*.json")):
        body = json.loads(path.read_text(encoding="utf-8"))
        for lang in ("zh", "en"):
            root = ET.fromstring(workflow_svg(body, lang))
            names = {g.get("data-name") for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("data-name")}
            assert set(body["workflow"]["states"]) <= names, path.name


def test_hostile_input_on_the_new_pages_is_answered_without_a_500(app, world, client_for, engaged):  # noqa: F811
    draft_id = add_draft(app, small(), org=world.acme)
    c = client_for("consultant")
    url = f"/studio/o/acme/d/{draft_id}"
    form = scrape(c.get(url).get_data(as_text=True))
    for action in ("moveto:result@x", "moveto:nope@0", "moveto:@", "moveto:result@99999999999999999999"):
        bad = MultiDict(form)
        bad["_action"] = action
        assert c.post(url, data=bad).status_code == 422, action
    confirm = scrape(c.post(url + "/publish", data=form).get_data(as_text=True), "publish-form")
    confirm["note"] = "<script>alert(1)</script>" + "长" * 6000
    assert c.post(url + "/publish", data=confirm).status_code == 303
    page = c.get("/studio/o/acme/t/forklift-check").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
    _manager, auditor, eid = engaged
    rurl = f"/o/acme/audit/e/{eid}/report"
    for data in ({"recommendation": "certify", "statement": "x", "issue_date": "2026-13-45"},
                 {"recommendation": "certify", "statement": "x" * 20000, "issue_date": ""},
                 {"recommendation": ["certify", "suspend"], "statement": "", "issue_date": "\x00"}):
        resp = auditor.post(rurl + "/conclusion", data={"csrf_token": token(auditor, rurl), **data})
        assert resp.status_code == 422, data
    assert auditor.post(rurl + "/revise", data={"csrf_token": token(auditor, rurl), "reason": "x"}).status_code == 409
