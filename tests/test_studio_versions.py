"""Versions: publishing makes an immutable new version (never an invalid one); records keep the version they
were made with; a manager adopts new versions when ready; diffs between versions."""
from __future__ import annotations

import copy

import pytest
from sqlmodel import Session, func, select

from tests.conftest import csrf_from
from tests.test_studio_views import add_draft, draft_body, scrape
from workbench import library
from workbench.models import Adoption, ProcessTemplate, Record
from workbench.studio import builder, versions
from workbench.studio.models import StudioDraft
from workbench.templates import InvalidTemplate


def small() -> dict:
    t = builder.new_template("forklift-check", "叉车点检", "Forklift check", [("ISO 45001:2018", "8.1.2")])
    t = builder.add_field(t, "result", "choice", "结论", "Result", required=True,
                          options=[("ok", "正常", "OK"), ("ng", "异常", "Not OK")])
    t = builder.add_field(t, "action", "textarea", "处理措施", "Action taken")
    return builder.set_condition(t, "action", "result", ["ng"], required=True)


def rows(app, key: str) -> list[ProcessTemplate]:
    with Session(app.extensions["workbench.engine"]) as s:
        return s.exec(select(ProcessTemplate).where(ProcessTemplate.key == key).order_by(ProcessTemplate.version)).all()


def test_version_numbers_continue_the_shipped_numbering(db, world):
    library.install_shipped(db)
    shipped = library.latest_shipped(db)["internal-audit"]
    body = copy.deepcopy(shipped.body)
    assert versions.next_version(db, world.acme.id, "internal-audit") == shipped.version + 1
    v2 = versions.publish(db, world.acme, body, world.users["consultant"])
    v3 = versions.publish(db, world.acme, body, world.users["consultant"])
    other = versions.publish(db, world.other, body, None)
    db.commit()
    assert (v2.version, v3.version, other.version) == (shipped.version + 1, shipped.version + 2, shipped.version + 1)
    assert (v2.org_id, v2.status, v2.body["version"]) == (world.acme.id, "published", v2.version)
    assert body["version"] == shipped.version  # the caller's dict is not changed
    assert [t.version for t in library.published_versions(db, world.acme, "internal-audit")] == [shipped.version + i for i in range(3)]


def test_an_invalid_template_is_never_published(db, world):
    bad = small()
    bad["workflow"]["transitions"][0]["to"] = "done"
    draft = StudioDraft(org_id=world.acme.id, key=bad["key"], body=bad)
    db.add(draft)
    db.commit()
    with pytest.raises(InvalidTemplate) as e:
        versions.publish(db, world.acme, bad, None, draft=draft)
    db.rollback()
    assert "$.workflow.transitions[0].to" in str(e.value)
    assert db.exec(select(func.count()).select_from(ProcessTemplate)).one() == 0
    assert db.get(StudioDraft, draft.id) is not None


def test_publishing_through_the_page_refuses_invalid_drafts(app, world, client_for):
    bad = small()
    bad["clauses"][0]["clause"] = "8.9.9"
    draft_id = add_draft(app, bad, org=world.acme)
    c = client_for("consultant")
    form = scrape(c.get(f"/studio/o/acme/d/{draft_id}").get_data(as_text=True))
    form["result:label_en"] = "Verdict"  # the edit is kept even though publishing is refused
    resp = c.post(f"/studio/o/acme/d/{draft_id}/publish", data=form)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "$.clauses[0].clause" in html and "未发布" in html
    assert rows(app, "forklift-check") == []
    assert draft_body(app, draft_id)["schema"]["properties"]["result"]["label"]["en"] == "Verdict"


def new_record(client, key: str, data: dict) -> str:
    page = client.get(f"/o/acme/p/{key}/new")
    assert page.status_code == 200
    resp = client.post(f"/o/acme/p/{key}/new", data={"csrf_token": csrf_from(page.get_data(as_text=True)), **data,
                                                     "_action": "save"})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]
    return resp.headers["Location"]


def publish_page(client, draft_url: str, form, note: str = "首次发布：叉车点检表", adopt: bool = False):
    """Publish through the pages: the builder's "Publish" shows the confirmation; confirm it with a release note."""
    resp = client.post(draft_url + "/publish", data=form)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:3000]
    confirm = scrape(resp.get_data(as_text=True), "publish-form")
    confirm["note"] = note
    if adopt:
        confirm["_adopt"] = "1"
    return client.post(draft_url + "/publish", data=confirm)


def adopt(client, key: str, template_id: int, from_url: str = "/o/acme/"):
    token = csrf_from(client.get(from_url).get_data(as_text=True))
    return client.post(f"/studio/o/acme/t/{key}/adopt", data={"csrf_token": token, "template_id": template_id})


def test_v2_leaves_v1_records_alone_and_new_records_follow_adoption(app, world, client_for):
    consultant, manager, member = client_for("consultant"), client_for("manager"), client_for("member")
    # v1: built by the consultant, published into the organization, adopted by the manager
    draft_id = add_draft(app, small(), org=world.acme)
    form = scrape(consultant.get(f"/studio/o/acme/d/{draft_id}").get_data(as_text=True))
    resp = publish_page(consultant, f"/studio/o/acme/d/{draft_id}", form)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/studio/o/acme/t/forklift-check")
    [v1] = rows(app, "forklift-check")
    assert draft_body(app, draft_id) is None  # the draft became the version
    assert member.get("/o/acme/p/forklift-check/new").status_code == 404  # not adopted yet
    dash = manager.get("/o/acme/").get_data(as_text=True)
    assert "待采用的模板新版本" in dash and "叉车点检" in dash
    assert "待采用的模板新版本" not in member.get("/o/acme/").get_data(as_text=True)
    assert adopt(consultant, "forklift-check", v1.id).status_code == 403  # consultants do not adopt
    assert adopt(member, "forklift-check", v1.id).status_code == 403
    assert adopt(manager, "forklift-check", v1.id).status_code == 303
    old = new_record(member, "forklift-check", {"date": "2026-11-20", "result": "ok"})

    # v2: a new draft from v1; the consultant relabels a field and adds one
    token = csrf_from(consultant.get("/studio/o/acme/t/forklift-check").get_data(as_text=True))
    resp = consultant.post("/studio/o/acme/t/forklift-check/edit", data={"csrf_token": token, "template_id": v1.id})
    draft_url = resp.headers["Location"]
    form = scrape(consultant.get(draft_url).get_data(as_text=True))
    form["result:label_zh"] = "检查结论"
    for k, v in {"new::label_zh": "司机", "new::label_en": "Driver", "new::type": "text", "_action": "add:"}.items():
        form.setlist(k, [v])
    assert consultant.post(draft_url, data=form).status_code == 303
    form = scrape(consultant.get(draft_url).get_data(as_text=True))
    form["driver:required"] = "1"
    resp = publish_page(consultant, draft_url, form, note="增加司机（必填）")
    assert resp.status_code == 303, resp.get_data(as_text=True)[:3000]
    v1_again, v2 = rows(app, "forklift-check")
    assert v1_again.body == v1.body and v1_again.version == 1  # published versions never change
    assert v2.version == 2 and "driver" in v2.body["schema"]["required"]

    # until the manager adopts v2, new records use v1; the manager is told a new version exists
    assert 'id="f-driver"' not in member.get("/o/acme/p/forklift-check/new").get_data(as_text=True)
    listing = manager.get("/o/acme/p/forklift-check/").get_data(as_text=True)
    assert "此模板的版本 2 已可用" in listing
    assert "此模板的版本 2 已可用" not in member.get("/o/acme/p/forklift-check/").get_data(as_text=True)
    diff = manager.get(f"/studio/o/acme/t/forklift-check/diff?a={v1.id}&b={v2.id}").get_data(as_text=True)
    assert "司机" in diff and "检查结论" in diff and "结论 / Result" in diff
    assert "增加司机（必填）" in diff  # the release note of the newer version
    assert adopt(manager, "forklift-check", v2.id, "/o/acme/p/forklift-check/").status_code == 303

    # new records use v2; the old record still renders with v1
    assert 'id="f-driver"' in member.get("/o/acme/p/forklift-check/new").get_data(as_text=True)
    new = new_record(member, "forklift-check", {"date": "2026-11-24", "result": "ok", "driver": "李强"})
    detail = member.get(old).get_data(as_text=True)
    assert "结论" in detail and "检查结论" not in detail and "司机" not in detail
    assert "模板 forklift-check，版本 1" in detail  # rendered with v1, and says the organization now uses v2
    detail = member.get(new).get_data(as_text=True)
    assert "检查结论" in detail and "李强" in detail
    with Session(app.extensions["workbench.engine"]) as s:
        assert sorted(r.template_id for r in s.exec(select(Record)).all()) == [v1.id, v2.id]
    assert "待采用的模板新版本" not in manager.get("/o/acme/").get_data(as_text=True)


def test_manager_may_publish_and_adopt_at_once(app, world, client_for):
    draft_id = add_draft(app, small(), org=world.acme)
    manager = client_for("manager")
    form = scrape(manager.get(f"/studio/o/acme/d/{draft_id}").get_data(as_text=True))
    assert publish_page(manager, f"/studio/o/acme/d/{draft_id}", form, adopt=True).status_code == 303
    assert client_for("member").get("/o/acme/p/forklift-check/new").status_code == 200
    # a consultant's "adopt at once" is ignored: adoption is the manager's decision
    draft_id = add_draft(app, {**small(), "key": "forklift-check-b"}, org=world.acme)
    consultant = client_for("consultant")
    form = scrape(consultant.get(f"/studio/o/acme/d/{draft_id}").get_data(as_text=True))
    assert "_adopt" not in consultant.get(f"/studio/o/acme/d/{draft_id}").get_data(as_text=True)
    confirm = consultant.post(f"/studio/o/acme/d/{draft_id}/publish", data=form).get_data(as_text=True)
    assert 'name="_adopt"' not in confirm
    assert publish_page(consultant, f"/studio/o/acme/d/{draft_id}", form, adopt=True).status_code == 303
    with Session(app.extensions["workbench.engine"]) as s:
        assert s.exec(select(Adoption).where(Adoption.key == "forklift-check-b")).first() is None


def test_adopting_only_versions_of_this_organization_or_the_library(app, world, db, client_for):
    mine = versions.publish(db, world.other, small(), None)
    db.commit()
    resp = adopt(client_for("manager"), "forklift-check", mine.id)
    assert resp.status_code == 404  # another tenant's version
    assert client_for("outsider").get("/studio/o/acme/t/forklift-check").status_code == 404


def test_available_updates(db, world):
    library.install_shipped(db)
    library.adopt_library(db, world.acme)
    assert library.available_updates(db, world.acme) == []
    audit = library.latest_shipped(db)["internal-audit"]
    v2 = versions.publish(db, world.acme, audit.body, None)
    new = versions.publish(db, world.acme, small(), None)
    versions.publish(db, world.other, {**small(), "key": "not-for-acme"}, None)
    db.commit()
    assert {(cur.id if cur else None, n.id) for cur, n in library.available_updates(db, world.acme)} == \
        {(audit.id, v2.id), (None, new.id)}
    library.adopt(db, world.acme, v2)
    db.commit()
    assert [(c, n.key) for c, n in library.available_updates(db, world.acme)] == [(None, "forklift-check")]


def test_diff_between_versions():
    a = small()
    b = builder.set_label(a, "result", "检查结论", "Verdict")
    b = builder.add_field(b, "driver", "text", "司机", "Driver", required=True)
    b = builder.remove_field(b, "action")
    b = builder.set_options(b, "result", [("ok", "正常", "OK"), ("ng", "异常", "Not OK"), ("na", "不适用", "N/A")])
    b = builder.add_state(b, "void", "作废", "Void", final=True)
    b = builder.add_transition(b, "void", ["draft"], "void", "作废", "Void", ["manager"])
    d = versions.diff(a, b, "zh")
    assert [f.path for f in d.added] == ["driver"] and [f.path for f in d.removed] == ["action"]
    [changed] = d.changed
    assert changed.path == "result" and {w for w, _, _ in changed.changes} == {"label", "options"}
    assert ("label", "结论 / Result", "检查结论 / Verdict") in changed.changes
    assert {w for w, _, _ in d.template} == {"states", "step"}
    assert versions.diff(a, copy.deepcopy(a)).empty
