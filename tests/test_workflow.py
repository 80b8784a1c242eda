"""Workflow: allowed/forbidden transitions per role, required fields, comments and e-signatures, through
the service and through the web; attachments and record links captured with the record."""
from __future__ import annotations

import re

import pytest
from sqlmodel import select

from tests.conftest import PASSWORD, csrf_from, load_fixture
from workbench import records, trail, workflow
from workbench.models import Attachment, Event, Record

KS = load_fixture("kitchen-sink.json")
DATA = {"batch_no": "B1", "inspected_on": "2026-01-05", "result": "pass", "quantity": 10}


@pytest.fixture
def rec(app, db, world):
    tpl = world.add_template(KS, world.acme)
    with app.app_context():
        r = records.create(db, world.acme, tpl, dict(DATA), world.users["member"])
        db.commit()
    return r


def take(app, db, rec, name, role, world, **kw):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        return workflow.take(db, rec, KS, name, world.users[role], {role}, **kw)


def test_available_transitions_depend_on_role_and_state():
    assert [t.name for t in workflow.available(KS, "draft", {"member"})] == ["submit"]
    assert [t.name for t in workflow.available(KS, "submitted", {"member"})] == []
    assert [t.name for t in workflow.available(KS, "submitted", {"manager"})] == ["return", "release"]
    assert workflow.available(KS, "submitted", {"auditor"}) == []
    assert [t.name for t in workflow.available(KS, "submitted", {"admin"})] == ["return", "release"]
    assert workflow.path_to_final(KS) == ["submit", "release"]


def test_forbidden_transitions_are_refused(app, db, world, rec):
    with pytest.raises(workflow.WorkflowError, match="current state"):
        take(app, db, rec, "release", "manager", world)  # not from draft
    take(app, db, rec, "submit", "member", world)
    with pytest.raises(workflow.WorkflowError, match="role"):
        take(app, db, rec, "release", "member", world)
    with pytest.raises(workflow.WorkflowError, match="Auditors"):
        take(app, db, rec, "return", "auditor", world, comment="x")
    with pytest.raises(workflow.WorkflowError, match="comment"):
        take(app, db, rec, "return", "manager", world)
    with pytest.raises(workflow.WorkflowError, match="Fill in"):
        take(app, db, rec, "release", "manager", world, password=PASSWORD)  # release_by missing
    assert rec.state == "submitted"


def test_signature_is_checked_and_recorded(app, db, world, rec):
    take(app, db, rec, "submit", "member", world)
    with app.app_context():
        records.edit(db, rec, _tpl(db, rec), dict(rec.data, release_by="王芳"), world.users["member"])
    with pytest.raises(workflow.WorkflowError, match="password"):
        take(app, db, rec, "release", "manager", world, password="wrong")
    with pytest.raises(workflow.WorkflowError, match="password"):
        take(app, db, rec, "release", "manager", world)
    take(app, db, rec, "release", "manager", world, password=PASSWORD)
    db.commit()
    last = db.exec(select(Event).where(Event.record_id == rec.id).order_by(Event.seq.desc())).first()
    assert last.action == "sign" and last.from_state == "submitted" and last.to_state == "released"
    assert last.detail["signature"]["meaning"] == {"zh": "放行批准", "en": "Release approval"}
    assert last.detail["signature"]["signer"] == world.users["manager"].name
    assert trail.verify(db, world.acme.id).ok


def _tpl(db, rec):
    from workbench.models import ProcessTemplate

    return db.get(ProcessTemplate, rec.template_id)


def test_transitions_through_the_web(app, db, world, rec, client_for):
    member, manager, auditor = client_for("member"), client_for("manager"), client_for("auditor")
    page = member.get(f"/o/acme/r/{rec.id}").get_data(as_text=True)
    token = csrf_from(page)
    assert 'value="submit"' in page and 'value="release"' not in page
    r = member.post(f"/o/acme/r/{rec.id}/transition", data={"csrf_token": token, "name": "release"})
    assert r.status_code == 303
    assert "此步骤" in member.get(f"/o/acme/r/{rec.id}").get_data(as_text=True)  # refused, flashed
    member.post(f"/o/acme/r/{rec.id}/transition", data={"csrf_token": token, "name": "submit"})
    db.expire_all()
    assert db.get(Record, rec.id).state == "submitted"
    # an auditor sees no steps and cannot post one
    apage = auditor.get(f"/o/acme/r/{rec.id}").get_data(as_text=True)
    assert 'name="name"' not in apage
    r = auditor.post(f"/o/acme/r/{rec.id}/transition", data={"csrf_token": csrf_from(apage), "name": "return", "comment": "x"})
    assert r.status_code == 403
    # manager returns it with a comment
    mtoken = csrf_from(manager.get(f"/o/acme/r/{rec.id}").get_data(as_text=True))
    manager.post(f"/o/acme/r/{rec.id}/transition", data={"csrf_token": mtoken, "name": "return", "comment": "数量不对"})
    db.expire_all()
    assert db.get(Record, rec.id).state == "draft"
    history = manager.get(f"/o/acme/r/{rec.id}").get_data(as_text=True)
    assert "数量不对" in history


def test_deletion_request_keeps_the_record(app, db, world, rec, client_for):
    c = client_for("member")
    token = csrf_from(c.get(f"/o/acme/r/{rec.id}").get_data(as_text=True))
    c.post(f"/o/acme/r/{rec.id}/request-deletion", data={"csrf_token": token, "reason": ""})
    assert not db.exec(select(Event).where(Event.action == "delete_request")).all()
    c.post(f"/o/acme/r/{rec.id}/request-deletion", data={"csrf_token": token, "reason": "重复录入"})
    ev = db.exec(select(Event).where(Event.action == "delete_request")).one()
    assert ev.comment == "重复录入" and db.get(Record, rec.id) is not None
    assert "重复录入" in c.get(f"/o/acme/r/{rec.id}").get_data(as_text=True)


# --- attachments -----------------------------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _post_with_file(c, filename, content):
    import io

    token = csrf_from(c.get("/o/acme/p/kitchen-sink/new").get_data(as_text=True))
    data = {"csrf_token": token, **{k: str(v) for k, v in DATA.items()}, "certificate.__file": (io.BytesIO(content), filename)}
    return c.post("/o/acme/p/kitchen-sink/new", data=data, content_type="multipart/form-data")


def test_attachment_is_stored_with_its_hash_in_the_chain(app, db, world, client_for):
    import hashlib

    world.add_template(KS, world.acme)
    c = client_for("member")
    r = _post_with_file(c, "校准证书.pdf", PDF)
    assert r.status_code == 303
    att = db.exec(select(Attachment)).one()
    assert att.sha256 == hashlib.sha256(PDF).hexdigest() and att.filename == "校准证书.pdf"
    rec = db.exec(select(Record)).one()
    assert rec.data["certificate"] == f"att:{att.id}/校准证书.pdf"
    ev = db.exec(select(Event).where(Event.action == "attach")).one()
    assert ev.data_digest == att.sha256 and ev.record_id == rec.id
    page = c.get(f"/o/acme/r/{rec.id}").get_data(as_text=True)
    href = re.search(r'href="(/o/acme/attachments/\d+)"', page).group(1)
    download = c.get(href)
    assert download.data == PDF and "attachment" in download.headers["Content-Disposition"]
    assert trail.verify(db, world.acme.id).ok
    # changing the stored file is detected by the chain
    from sqlalchemy import text

    db.execute(text("UPDATE attachment SET content = :c"), {"c": PDF + b"tampered"})
    db.commit()
    db.expire_all()
    v = trail.verify(db, world.acme.id)
    assert not v.ok and str(v.first).startswith(f"attachment {att.id}: file content changed")
    assert not trail.verify(db, world.acme.id, record_id=rec.id).ok
    # another organization cannot download it
    outsider = client_for("outsider")
    assert outsider.get(href).status_code == 404
    assert outsider.get(href.replace("/o/acme/", "/o/other/")).status_code == 404


@pytest.mark.parametrize("name,content,error", [
    ("fake.pdf", b"MZ\x90\x00 not a pdf", "只接受"),
    ("photo.exe", PDF, "只接受"),
    ("empty.pdf", b"", "文件是空的"),
])
def test_bad_attachments_are_refused_and_nothing_stored(app, db, world, client_for, name, content, error):
    world.add_template(KS, world.acme)
    c = client_for("member")
    r = _post_with_file(c, name, content)
    assert r.status_code == 422 and error in r.get_data(as_text=True)
    assert db.exec(select(Record)).all() == [] and db.exec(select(Attachment)).all() == []


def test_oversized_attachment_is_refused(app, db, world, client_for):
    app.config["ATTACHMENT_MAX_BYTES"] = 100
    world.add_template(KS, world.acme)
    r = _post_with_file(client_for("member"), "big.pdf", PDF + b"0" * 200)
    assert r.status_code == 422 and "文件太大" in r.get_data(as_text=True)
    assert db.exec(select(Attachment)).all() == []


def test_forged_attachment_reference_is_refused(app, db, world, client_for):
    world.add_template(KS, world.acme)
    c = client_for("member")
    token = csrf_from(c.get("/o/acme/p/kitchen-sink/new").get_data(as_text=True))
    r = c.post("/o/acme/p/kitchen-sink/new", data={"csrf_token": token, **{k: str(v) for k, v in DATA.items()},
                                                   "certificate": "att:1/other-org.pdf"})
    assert r.status_code == 422 and db.exec(select(Record)).all() == []


# --- record links ----------------------------------------------------------------------------------

LINKED = {
    "key": "fix", "version": 1, "title": {"zh": "纠正", "en": "Fix"},
    "clauses": [{"standard": "ISO 9001:2015", "clause": "10.2"}],
    "schema": {"type": "object", "required": ["what"], "properties": {
        "what": {"type": "string", "label": {"zh": "措施", "en": "Action"}},
        "source": {"type": "string", "format": "record-link", "linkTemplates": ["kitchen-sink"], "label": {"zh": "来源", "en": "Source"}}}},
    "workflow": {"initial": "open", "states": {"open": {"label": {"zh": "开", "en": "Open"}}}, "transitions": []},
}


def test_links_point_to_records_of_the_same_organization(app, db, world, client_for, rec):
    world.add_template(LINKED, world.acme)
    c = client_for("member")
    detail = c.get(f"/o/acme/r/{rec.id}").get_data(as_text=True)
    assert f"/o/acme/p/fix/new?link.source={rec.id}" in detail  # "answer with" button
    form = c.get(f"/o/acme/p/fix/new?link.source={rec.id}").get_data(as_text=True)
    assert re.search(rf'<option value="{rec.id}" selected>', form)
    token = csrf_from(form)
    # a record of another organization cannot be linked
    with app.app_context():
        foreign = records.create(db, world.other, _tpl(db, rec), dict(DATA), world.users["outsider"])
        db.commit()
    r = c.post("/o/acme/p/fix/new", data={"csrf_token": token, "what": "返工", "source": str(foreign.id)})
    assert r.status_code == 422 and "本组织" in r.get_data(as_text=True)
    r = c.post("/o/acme/p/fix/new", data={"csrf_token": token, "what": "返工", "source": str(rec.id)})
    assert r.status_code == 303
    back = c.get(f"/o/acme/r/{rec.id}").get_data(as_text=True)
    assert "返工" in back  # the answering record is listed on the source


def test_links_made_with_an_older_version_still_show(app, db, world, rec):
    v1 = world.add_template(LINKED, world.acme)
    with app.app_context():
        answer = records.create(db, world.acme, v1, {"what": "返工", "source": str(rec.id)}, world.users["member"])
        db.commit()
        v2_body = {**LINKED, "version": 2, "schema": {**LINKED["schema"], "properties": {
            "what": LINKED["schema"]["properties"]["what"]}}}
        world.add_template(v2_body, world.acme)  # the adopted version no longer has the link field
        assert ("from", answer) in [(d, r) for d, r in records.linked(db, rec, _tpl(db, rec))]
        assert [(d, r.id) for d, r in records.linked(db, answer, v1)] == [("to", rec.id)]
