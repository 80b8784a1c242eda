"""Smart forms: defaults, answering pre-fills, follow-ups, drafts, error summary, uploads kept across a
validation error, distinguishing link labels, and gapless numbering under concurrent submissions."""
from __future__ import annotations

import copy
import io
import threading

from sqlmodel import Session, select

from tests.conftest import csrf_from
from workbench import numbering, records
from workbench.models import Attachment, Event, Record
from workbench.templates import LIBRARY_DIR, load_file

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _insp(world):
    return world.add_template(load_file(LIBRARY_DIR / "production-inspection.json"))


def test_inspection_prefills_inspector_and_time(world, client_for):
    _insp(world)
    html = client_for("member").get("/o/acme/p/production-inspection/new").get_data(as_text=True)
    assert 'value="member of acme"' in html and 'name="inspected_at" value="20' in html


def test_failed_inspection_offers_nonconforming_output_prefilled(db, world, client_for):
    insp = _insp(world)
    world.add_template(load_file(LIBRARY_DIR / "nonconforming-output.json"))
    ex = insp.body["examples"][1]  # result: fail
    rec = records.create(db, world.acme, insp, ex, world.users["member"])
    db.commit()
    c = client_for("member")
    page = c.get(f"/o/acme/r/{rec.id}").get_data(as_text=True)
    assert f"/o/acme/p/nonconforming-output/new?from={rec.id}" in page and "处置不合格品" in page
    form = c.get(f"/o/acme/p/nonconforming-output/new?from={rec.id}").get_data(as_text=True)
    assert f'value="{ex["batch_no"]}"' in form and f'value="{ex["part_no"]}"' in form and ex["nc_description"][:10] in form


def test_corrective_action_copies_its_source(db, world, client_for):
    nc = world.add_template(load_file(LIBRARY_DIR / "nonconforming-output.json"))
    world.add_template(load_file(LIBRARY_DIR / "corrective-action.json"))
    rec = records.create(db, world.acme, nc, nc.body["examples"][0], world.users["member"])
    db.commit()
    form = client_for("member").get(f"/o/acme/p/corrective-action/new?link.source_record={rec.id}").get_data(as_text=True)
    assert 'value="nonconforming_output" checked' in form or 'value="nonconforming_output" selected' in form
    assert nc.body["examples"][0]["description"][:12] in form
    assert f'value="{rec.id}" selected' in form


def test_draft_saves_incomplete_and_submit_needs_it_complete(db, world, client_for):
    insp = _insp(world)
    c = client_for("member")
    token = csrf_from(c.get("/o/acme/p/production-inspection/new").get_data(as_text=True))
    r = c.post("/o/acme/p/production-inspection/new", data={"csrf_token": token, "_action": "draft", "batch_no": "B-1",
                                                            "lot_qty": "abc"})
    assert r.status_code == 422  # what is typed must still be well-formed
    r = c.post("/o/acme/p/production-inspection/new", data={"csrf_token": token, "_action": "draft", "batch_no": "B-1"})
    assert r.status_code == 303
    rec = db.exec(select(Record)).one()
    assert rec.state == insp.body["workflow"]["initial"] and rec.data["batch_no"] == "B-1"
    c.post(f"/o/acme/r/{rec.id}/transition", data={"csrf_token": token, "name": "submit"})
    db.expire_all()
    assert db.get(Record, rec.id).state == "draft"


def test_error_summary_links_each_message_once_and_keeps_the_photo(app, db, world, client_for):
    body = copy.deepcopy(load_file(LIBRARY_DIR / "production-inspection.json"))
    body["schema"]["properties"]["photo"] = {"type": "string", "format": "attachment", "label": {"zh": "照片", "en": "Photo"}}
    body["ui"]["sections"][1]["fields"].append("photo")
    world.add_template(body)
    c = client_for("member")
    token = csrf_from(c.get("/o/acme/p/production-inspection/new").get_data(as_text=True))
    r = c.post("/o/acme/p/production-inspection/new", content_type="multipart/form-data",
               data={"csrf_token": token, "batch_no": "B-9", "photo.__file": (io.BytesIO(PNG), "件.png")})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert 'href="#f-part_no"' in html and html.count('href="#f-part_no"') == 1
    assert "已上传：件.png" in html
    ref = __import__("re").search(r'name="photo" value="(att:\d+/[^"]+)"', html).group(1)
    # another user cannot take the held file
    other = client_for("manager")
    t2 = csrf_from(other.get("/o/acme/p/production-inspection/new").get_data(as_text=True))
    ex = body["examples"][0]
    full = {"inspection_stage": ex["inspection_stage"], "batch_no": "B-9", "production_date": ex["production_date"],
            "part_no": ex["part_no"], "part_name": ex["part_name"], "inspected_at": "2026-01-18T14:20", "inspector": "张伟",
            "items.0.item": "外径", "items.0.gauge_no": "JL-0012", "items.0.standard": "Φ25", "items.0.measured_value": "24.99", "items.0.result": "ok",
            "items.__row": "0", "result": "pass", "released_by": "王芳"}
    r = other.post("/o/acme/p/production-inspection/new", data=dict(full, csrf_token=t2, photo=ref))
    assert r.status_code == 422
    r = c.post("/o/acme/p/production-inspection/new", data=dict(full, csrf_token=token, photo=ref))
    assert r.status_code == 303, r.get_data(as_text=True)[:3000]
    rec = db.exec(select(Record)).one()
    assert rec.data["photo"] == ref
    att = db.exec(select(Attachment)).one()
    assert att.record_id == rec.id
    assert db.exec(select(Event).where(Event.action == "attach", Event.record_id == rec.id)).one()


def test_link_labels_tell_records_apart(db, world, client_for):
    nc = world.add_template(load_file(LIBRARY_DIR / "nonconforming-output.json"))
    world.add_template(load_file(LIBRARY_DIR / "corrective-action.json"))
    a = records.create(db, world.acme, nc, nc.body["examples"][0], world.users["member"])
    db.commit()
    form = client_for("member").get("/o/acme/p/corrective-action/new").get_data(as_text=True)
    assert f"#{a.id} · {a.title} · {a.record_date.isoformat()}" in form and "data-searchable" in form


def _numbered(world):
    body = copy.deepcopy(load_file(LIBRARY_DIR / "nonconforming-output.json"))
    body["schema"]["properties"]["ncr_no"][numbering.KEYWORD] = "NCR-{yyyy}-{seq:03}"
    return world.add_template(body)


def test_numbering_through_the_form(db, world, client_for):
    tpl = _numbered(world)
    ex = tpl.body["examples"][0]
    c = client_for("member")
    token = csrf_from(c.get("/o/acme/p/nonconforming-output/new").get_data(as_text=True))
    data = {k: ("true" if v is True else "false" if v is False else str(v)) for k, v in ex.items() if not isinstance(v, (list, dict))}
    for _ in range(2):
        assert c.post("/o/acme/p/nonconforming-output/new", data=dict(data, csrf_token=token, ncr_no="")).status_code == 303
    nums = sorted(r.data["ncr_no"] for r in db.exec(select(Record)).all())
    from datetime import date
    y = date.today().year
    assert nums[0].startswith(f"NCR-{y}-00") and nums[1].startswith(f"NCR-{y}-00") and nums[0] != nums[1]


def concurrent_numbering(engine, org_id, tpl_id, threads=6, each=5):
    """Threads each create records in their own transactions; one in five rolls back. Returns the numbers kept."""
    from workbench.models import Organization, ProcessTemplate
    errors = []

    def work(i):
        try:
            for j in range(each):
                with Session(engine, expire_on_commit=False) as s:
                    org, tpl = s.get(Organization, org_id), s.get(ProcessTemplate, tpl_id)
                    data = dict(tpl.body["examples"][0])
                    data.pop("ncr_no", None)
                    from workbench import smartforms
                    smartforms.before_store(s, org, tpl, data, None)
                    records.create(s, org, tpl, data, None)
                    if j == 2 and i % 2 == 0:
                        s.rollback()
                    else:
                        s.commit()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert not errors, errors
    with Session(engine) as s:
        return sorted(r.data["ncr_no"] for r in s.exec(select(Record)).all())


def test_numbering_gapless_with_threads_sqlite(app, db, world):
    tpl = _numbered(world)
    with app.test_request_context():
        nums = concurrent_numbering(app.extensions["workbench.engine"], world.acme.id, tpl.id)
    seqs = sorted(int(n.rsplit("-", 1)[1]) for n in nums)
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) == 6 * 5 - 3


def test_declared_defaults_fill_user_org_today_and_now():
    """`x-default` on a field: the current user's name, the organization's name, today and now (in the
    organization's time zone); fields without it stay empty."""
    from datetime import datetime
    from types import SimpleNamespace
    from zoneinfo import ZoneInfo

    from workbench import prefill

    schema = {"type": "object", "properties": {
        "who": {"type": "string", "x-default": "user"}, "company": {"type": "string", "x-default": "org"},
        "day": {"type": "string", "format": "date", "x-default": "today"},
        "at": {"type": "string", "format": "date-time", "x-default": "now"}, "note": {"type": "string"}}}
    tpl = SimpleNamespace(key="custom", body={"schema": schema})
    tz = ZoneInfo("Asia/Shanghai")
    before = datetime.now(tz).date().isoformat()
    got = prefill.defaults(tpl, SimpleNamespace(name="张三"), SimpleNamespace(name="甲公司"), tz)
    days = {before, datetime.now(tz).date().isoformat()}  # the call may straddle midnight
    assert got["who"] == "张三" and got["company"] == "甲公司" and got["day"] in days
    assert got["at"][:10] in days and len(got["at"]) == len("2026-01-01T08:00") and "note" not in got
