"""Generated procedures and manual, document control (approval with e-signature, successors, review), as-of."""
from __future__ import annotations

import io
from datetime import date, datetime, timedelta, timezone

import docx
import pytest
from sqlmodel import select

from conftest import PASSWORD
from workbench import clauses, library, records, trail, workflow
from workbench.documents import asof, content, control, manual
from workbench.documents import docx as docx_out
from workbench.documents.models import DRAFT, IN_FORCE, SUPERSEDED, ControlledDocument
from workbench.documents.rules import required_labels
from workbench.documents.words import role_name
from workbench.errors import Conflict, Forbidden, UserError
from workbench.studio import versions


@pytest.fixture
def lib(db, world):
    library.install_shipped(db)
    library.adopt_library(db, world.acme)
    return world


def docx_text(data: bytes) -> str:
    d = docx.Document(io.BytesIO(data))
    parts = [p.text for p in d.paragraphs]
    for t in d.tables:
        for row in t.rows:
            parts += [c.text for c in row.cells]
    return "\n".join(parts)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_procedure_from_every_shipped_template_opens_and_says_everything(db, lib, lang):
    tpls = library.processes(db, lib.acme)
    assert len(tpls) >= 30
    for tpl in tpls:
        data = docx_out.procedure_docx(content.build(db, lib.acme, tpl, lang))
        document = docx.Document(io.BytesIO(data))
        text = docx_text(data)
        roles = {r for t in tpl.body["workflow"]["transitions"] for r in t["roles"]}
        for r in roles:
            assert role_name(r, lang) in text, (tpl.key, r)
        for label in required_labels(tpl.body, lang):
            assert label in text, (tpl.key, label)
        assert content.frequency(tpl.body, lang) in text, tpl.key
        if "every_months" in (tpl.body.get("schedule") or {}):
            assert str(tpl.body["schedule"]["every_months"]) in text
        assert len(document.inline_shapes) == 1, tpl.key  # the flow diagram, as a PNG
        fonts = document.styles["Normal"].element.rPr.rFonts
        assert fonts.get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}eastAsia") == "宋体"


def test_the_procedure_docx_embeds_the_flow_diagram_as_png_before_the_step_table(db, lib):
    tpl = library.adopted(db, lib.acme, "nonconforming-output")
    p = content.build(db, lib.acme, tpl, "zh")
    document = docx.Document(io.BytesIO(docx_out.procedure_docx(p)))
    assert len(document.inline_shapes) == 1
    images = [r.target_part for r in document.part.rels.values() if "image" in r.reltype]
    assert len(images) == 1 and images[0].content_type == "image/png"
    assert images[0].blob[:8] == b"\x89PNG\r\n\x1a\n"
    assert docx_out._diagram_png(p.svg)[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(document.tables) >= 4  # the step table is still there
    assert p.steps[0].label in docx_text(docx_out.procedure_docx(p))


def test_conditional_rules_are_in_words(db, lib):
    tpl = library.adopted(db, lib.acme, "nonconforming-output")
    p = content.build(db, lib.acme, tpl, "zh")
    rules = {f.path: f.rules for f in p.fields}
    assert "「处置方式」为「返工」时必填" in rules["reverification"]
    assert "「评审处置」前必填" in rules["disposition"]
    en = {f.path: f.rules for f in content.build(db, lib.acme, tpl, "en").fields}
    assert "required when Disposition is Use as is (concession)" in en["concession_approval"]
    assert any("Corrective action" in r for r in content.build(db, lib.acme, tpl, "en").related)


def test_the_manual_lists_every_clause_of_the_selected_standards_exactly_once(db, lib):
    chosen = ["ISO 9001:2015", "ISO 45001:2018"]
    m = manual.build(manual.snapshot(db, lib.acme, chosen), "zh")
    rows = [(r.standard, r.clause) for r in m.rows]
    assert len(rows) == len(set(rows))
    expected = {(s, c) for s in chosen for c in clauses.catalogue()[s]["clauses"]}
    assert set(rows) == expected
    assert not any(r.standard == "ISO 14001:2015" for r in m.rows)
    served = {(r.standard, r.clause) for r in m.rows if r.processes}
    assert ("ISO 9001:2015", "9.2") in served  # internal audit serves 9.2.2, so 9.2 too
    assert all(not r.processes and not r.system for r in m.gaps)
    text = docx_text(docx_out.manual_docx(m))
    assert "管理手册" in text and "条款对照表" in text


def test_manual_scope_and_policy_come_from_the_latest_completed_records(db, lib):
    org, mgr = lib.acme, lib.users["manager"]
    tpl = library.adopted(db, org, "leadership-policy-roles")
    data = dict(tpl.body["examples"][0])
    rec = records.create(db, org, tpl, data, mgr)
    for name in workflow.path_to_final(tpl.body):
        workflow.take(db, rec, tpl.body, name, mgr, {"manager"}, comment="ok", password=PASSWORD)
    db.commit()
    m = manual.build(manual.snapshot(db, org, ["ISO 9001:2015"]), "zh")
    assert m.policy == data["policy_text"] and m.policy_record == rec.id


def _generate(db, world, key="internal-audit"):
    d = control.generate_procedure(db, world.acme, key, world.users["manager"])
    db.commit()
    return d


def test_approving_makes_it_in_force_and_a_new_template_version_drafts_a_successor(db, lib):
    org, mgr = lib.acme, lib.users["manager"]
    d = _generate(db, lib, "nonconforming-output")
    assert (d.status, d.version, d.number) == (DRAFT, 1, "PR-01")
    assert control.generate_procedure(db, org, "nonconforming-output", mgr).id == d.id  # idempotent
    with pytest.raises(UserError):
        control.approve(db, org, d, mgr, {"manager"}, "wrong password")
    with pytest.raises(Forbidden):
        control.approve(db, org, d, lib.users["member"], {"member"}, PASSWORD)
    assert d.status == DRAFT
    control.approve(db, org, d, mgr, {"manager"}, PASSWORD, expected_version=1, today=date(2026, 3, 1))
    db.commit()
    assert d.status == IN_FORCE and d.effective_date == date(2026, 3, 1) and d.next_review == date(2027, 3, 1)
    assert d.signature["signer"] == mgr.name
    with pytest.raises(Conflict):
        control.approve(db, org, d, mgr, {"manager"}, PASSWORD)
    # a consultant publishes version 2 with one more field; the manager adopts it
    old = library.adopted(db, org, "nonconforming-output")
    body = dict(old.body)
    body["schema"] = {**old.body["schema"], "properties": {**old.body["schema"]["properties"],
                      "remote": {"type": "boolean", "label": {"zh": "远程处置", "en": "Remote audit"}}}}
    new = versions.publish(db, org, body, mgr, adopt=True)
    db.commit()
    succ = db.exec(select(ControlledDocument).where(ControlledDocument.number == d.number,
                                                    ControlledDocument.version == 2)).one()
    assert succ.status == DRAFT and succ.template_id == new.id
    assert any("远程处置" in c["zh"] for c in succ.changes)
    assert d.status == IN_FORCE  # until the successor is approved
    control.approve(db, org, succ, mgr, {"manager"}, PASSWORD)
    db.commit()
    db.refresh(d)
    assert (d.status, succ.status) == (SUPERSEDED, IN_FORCE)
    assert [e.action for e in trail_events(db, org) if e.action.startswith("doc_")] == [
        "doc_draft", "doc_approve", "doc_draft", "doc_supersede", "doc_approve"]
    assert trail.verify(db, org.id).ok
    p = content.build(db, org, new, "zh", succ)
    assert len(p.history) == 2 and "远程处置" in "".join(p.history[1][2])


def trail_events(db, org):
    from workbench.models import Event

    return db.exec(select(Event).where(Event.org_id == org.id).order_by(Event.seq)).all()


def test_periodic_review_is_due_after_the_interval(db, lib):
    org, mgr = lib.acme, lib.users["manager"]
    d = _generate(db, lib)
    control.approve(db, org, d, mgr, {"manager"}, PASSWORD, today=date(2026, 1, 10))
    db.commit()
    assert control.due_reviews(db, org, date(2026, 6, 1)) == []
    due = control.due_reviews(db, org, date(2026, 12, 20))
    assert [(r.document.id, r.status) for r in due] == [(d.id, "due_soon")]
    assert control.due_reviews(db, org, date(2027, 2, 1))[0].status == "overdue"
    from workbench.documents import due_reviews  # the package-level interface other areas call

    assert [r.document.id for r in due_reviews(db, org, date(2027, 2, 1))] == [d.id]
    control.review(db, org, d, mgr, "still suitable", today=date(2027, 2, 1))
    db.commit()
    assert d.next_review == date(2028, 2, 1) and control.due_reviews(db, org, date(2027, 2, 2)) == []


def test_as_of_a_date(db, lib):
    org, mgr = lib.acme, lib.users["manager"]
    tpl = library.adopted(db, org, "internal-audit")
    t0 = datetime(2026, 2, 1, 8, tzinfo=timezone.utc)
    rec = records.create(db, org, tpl, dict(tpl.body["examples"][0]), mgr, at=t0)
    db.commit()
    first = workflow.path_to_final(tpl.body)[0]
    workflow.take(db, rec, tpl.body, first, mgr, {"manager"}, comment="x", password=PASSWORD,
                  at=datetime(2026, 3, 1, 8, tzinfo=timezone.utc))
    records.edit(db, rec, tpl, {**rec.data, "scope": "changed"} if "scope" in tpl.body["schema"]["properties"]
                 else {**rec.data}, mgr)
    db.commit()
    before = asof.record_as_of(db, rec, date(2026, 1, 1))
    assert not before.exists
    feb = asof.record_as_of(db, rec, date(2026, 2, 15))
    assert feb.exists and feb.state == tpl.body["workflow"]["initial"] and feb.revision.number == 1
    assert feb.later_changes >= 1
    now = asof.record_as_of(db, rec, date.today() + timedelta(days=1))
    assert now.state == rec.state
    assert asof.template_as_of(db, org, "internal-audit", date.today()).id == tpl.id
    d = _generate(db, lib)
    assert asof.procedure_as_of(db, org, "internal-audit", date.today()) is None
    control.approve(db, org, d, mgr, {"manager"}, PASSWORD)
    db.commit()
    assert asof.procedure_as_of(db, org, "internal-audit", date.today()).id == d.id
    assert asof.procedure_as_of(db, org, "internal-audit", date.today() - timedelta(days=2)) is None


def test_cli_docs_build_writes_every_procedure_and_the_manual(app, db, lib, tmp_path):
    runner = app.test_cli_runner()
    from workbench.cli import main

    result = runner.invoke(main, ["docs", "build", "--org", "acme", "--lang", "en", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "out").glob("*.docx"))
    assert len(files) == len(library.processes(db, lib.acme)) + 1
    for f in files[:3]:
        docx.Document(str(f))
    assert runner.invoke(main, ["docs", "build", "--org", "nope", "-o", str(tmp_path / "x")]).exit_code == 2


def test_as_of_shows_the_signatures_in_force_then(db, lib):
    org, mgr = lib.acme, lib.users["manager"]
    tpl = library.adopted(db, org, "internal-audit")
    t0 = datetime.now(timezone.utc) - timedelta(days=10)
    rec = records.create(db, org, tpl, dict(tpl.body["examples"][0]), mgr, at=t0)
    for i, name in enumerate(["start", "report", "approve"]):
        workflow.take(db, rec, tpl.body, name, mgr, {"manager"}, password=PASSWORD, at=t0 + timedelta(hours=i + 1))
    db.commit()
    signed_day = (t0 + timedelta(hours=4)).date()
    assert [s.signer for s in asof.record_as_of(db, rec, signed_day).signatures] == [mgr.name]
    records.edit(db, rec, tpl, {**rec.data, "conclusion": "补充结论"}, mgr, comment="更正笔误")
    db.commit()
    assert [s.signer for s in asof.record_as_of(db, rec, signed_day).signatures] == [mgr.name]
    assert asof.record_as_of(db, rec, date.today() + timedelta(days=1)).signatures == []
