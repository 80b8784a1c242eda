"""The record service: submit / transition through one pipeline; stale forms and concurrent clicks get 409
(never 500, never a double transition) on SQLite and PostgreSQL; signatures bound to the revision they
signed; locked states; "done" judged by each record's own template version."""
from __future__ import annotations

import copy
import re
import threading
from datetime import date

import pytest
from sqlmodel import Session, select

from tests.conftest import PASSWORD, csrf_from, login
from tests.sample_frames import frame_of
from tests.test_postgres import pg_app, pg_url, pg_world  # noqa: F401  (the throw-away PostgreSQL cluster)
from workbench import records, schedules, signatures, trail, workflow
from workbench.actions import Action
from workbench.errors import Conflict, NotFound, UserError
from workbench.models import Event, ProcessTemplate, Record, Revision
from workbench.services import records as service

from tests.test_workflow import DATA, KS, rec  # noqa: F401  (a kitchen-sink record in draft)

FORM = {k: str(v) for k, v in DATA.items()}


def _events(db, rec, *actions):
    q = select(Event).where(Event.record_id == rec.id).order_by(Event.seq)
    return [e for e in db.exec(q).all() if not actions or e.action in actions]


def _signed(app, db, world, rec):
    """submit, fill release_by, release with the manager's signature: revision 2, state released."""
    with app.test_request_context():
        workflow.take(db, rec, KS, "submit", world.users["member"], {"member"})
        records.edit(db, rec, _tpl(db, rec), dict(rec.data, release_by="王芳"), world.users["member"])
        workflow.take(db, rec, KS, "release", world.users["manager"], {"manager"}, password=PASSWORD)
    db.commit()
    return rec


def _tpl(db, rec):
    return db.get(ProcessTemplate, rec.template_id)


# --- the service and the loader ---------------------------------------------------------------------------


def test_loader_answers_not_found_for_other_orgs_and_odd_ids(app, db, world, rec):
    with app.test_request_context():
        assert records.get(db, world.acme.id, rec.id).id == rec.id
        for bad in (world.other.id,):
            with pytest.raises(NotFound):
                records.get(db, bad, rec.id)
        with pytest.raises(NotFound):
            records.get(db, world.acme.id, 2**70)
    c = app.test_client()
    login(c, world.users["outsider"].email)
    assert c.get(f"/o/other/r/{rec.id}").status_code == 404
    member = app.test_client()
    login(member, world.users["member"].email)
    assert member.get("/o/acme/r/99999999999999999999999").status_code == 404
    assert member.get(f"/o/acme/r/{rec.id}/edit?x=1").status_code == 200


def test_submit_returns_typed_results_and_stores_nothing_when_invalid(app, db, world):
    from werkzeug.datastructures import MultiDict

    tpl = world.add_template(KS, world.acme)
    with app.test_request_context():
        bad = service.submit(db, world.acme, tpl, service.Submission(MultiDict({"quantity": "x"})), world.users["member"])
        assert isinstance(bad, service.Invalid) and "quantity" in bad.errors
        db.rollback()
        assert db.exec(select(Record)).all() == []
        ok = service.submit(db, world.acme, tpl, service.Submission(MultiDict(FORM)), world.users["member"])
        assert isinstance(ok, service.Saved) and ok.created and ok.record.data["quantity"] == 10
        db.commit()
        same = service.submit(db, world.acme, tpl, service.Submission(MultiDict(FORM), base_revision=1),
                              world.users["member"], record=ok.record)
        assert isinstance(same, service.Saved) and same.revision is None  # nothing changed
    assert [s.__name__ for s in service.CHECKS][0] == "check_editable"


def test_action_enum_keeps_the_json_strings_and_hashes():
    assert Action.CREATE == "create" and trail.canonical({"a": Action.SIGN}) == trail.canonical({"a": "sign"})
    assert trail.digest([Action.EDIT]) == trail.digest(["edit"])


def test_transaction_helper_rolls_back_on_user_errors(app, db, world, rec):
    from workbench.db import transaction

    with app.test_request_context():
        with pytest.raises(UserError):
            with transaction(db):
                records.edit(db, rec, _tpl(db, rec), dict(rec.data, quantity=11), world.users["member"])
                raise UserError("no")
    db.expire_all()
    assert db.get(Record, rec.id).revision == 1 and len(_events(db, rec)) == 1


# --- stale forms (#10.13) -----------------------------------------------------------------------------------


def test_stale_edit_gets_409_with_what_changed_and_keeps_the_input(app, db, world, rec, client_for):
    member, manager = client_for("member"), client_for("manager")
    form = member.get(f"/o/acme/r/{rec.id}/edit").get_data(as_text=True)
    assert 'name="_revision" value="1"' in form
    token = csrf_from(form)
    mtoken = csrf_from(manager.get(f"/o/acme/r/{rec.id}/edit").get_data(as_text=True))
    r = manager.post(f"/o/acme/r/{rec.id}/edit", data={**FORM, "csrf_token": mtoken, "_revision": "1", "quantity": "20"})
    assert r.status_code == 303
    # the member saves the form opened at revision 1
    r = member.post(f"/o/acme/r/{rec.id}/edit?lang=en", data={**FORM, "csrf_token": token, "_revision": "1",
                                                              "quantity": "11", "_comment": "my reason"})
    page = r.get_data(as_text=True)
    assert r.status_code == 409
    assert "changed since you opened it" in page and 'id="record-conflict"' in page
    diff = page[page.index('id="record-conflict"'):page.index("</table>", page.index('id="record-conflict"'))]
    assert re.search(r"<td class=\"before\">10</td><td class=\"after\">20</td>", diff), diff
    assert 'value="11"' in page and 'value="my reason"' in page  # the user's input is kept
    assert 'name="_revision" value="2"' in page  # saving again is based on what they were shown
    db.expire_all()
    assert db.get(Record, rec.id).revision == 2 and db.get(Record, rec.id).data["quantity"] == 20
    r = member.post(f"/o/acme/r/{rec.id}/edit", data={**FORM, "csrf_token": token, "_revision": "2", "quantity": "11"})
    assert r.status_code == 303
    db.expire_all()
    assert db.get(Record, rec.id).revision == 3
    assert trail.verify(db, world.acme.id).ok


def _race(app, n, fn):
    """Run fn(i) in n threads started together; returns their results (exceptions included)."""
    barrier = threading.Barrier(n)
    out: list = [None] * n

    def run(i):
        try:
            barrier.wait(timeout=60)
            out[i] = fn(i)
        except BaseException as e:  # noqa: BLE001
            out[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _clients(app, email, n):
    out = []
    for _i in range(n):
        c = app.test_client()
        assert login(c, email).status_code == 302
        out.append(c)
    return out


def _concurrent_edits(app, engine, world, rid, n=8):
    clients = _clients(app, world.users["member"].email, n)
    tokens = [csrf_from(c.get(f"/o/acme/r/{rid}/edit").get_data(as_text=True)) for c in clients]
    codes = _race(app, n, lambda i: clients[i].post(f"/o/acme/r/{rid}/edit", data={
        **FORM, "csrf_token": tokens[i], "_revision": "1", "quantity": str(100 + i)}).status_code)
    assert sorted(codes) == [303] + [409] * (n - 1), codes
    with Session(engine) as db:
        rec = db.get(Record, rid)
        assert rec.revision == 2
        assert [r.number for r in db.exec(select(Revision).where(Revision.record_id == rid)).all()] == [1, 2]
        assert len(db.exec(select(Event).where(Event.record_id == rid, Event.action == "edit")).all()) == 1
        assert trail.verify(db, rec.org_id).ok


def _concurrent_transitions(app, engine, world, rid, n=8):
    clients = _clients(app, world.users["member"].email, n)
    pages = [c.get(f"/o/acme/r/{rid}").get_data(as_text=True) for c in clients]
    assert 'name="from" value="draft"' in pages[0] and 'name="revision" value="1"' in pages[0]
    tokens = [csrf_from(p) for p in pages]
    codes = _race(app, n, lambda i: clients[i].post(f"/o/acme/r/{rid}/transition", data={
        "csrf_token": tokens[i], "name": "submit", "from": "draft", "revision": "1"}).status_code)
    assert sorted(codes) == [303] + [409] * (n - 1), codes
    with Session(engine) as db:
        rec = db.get(Record, rid)
        assert rec.state == "submitted"
        assert len(db.exec(select(Event).where(Event.record_id == rid, Event.action == "transition")).all()) == 1
        assert trail.verify(db, rec.org_id).ok


def test_concurrent_edits_on_sqlite_one_wins_the_rest_409(app, db, world, rec):
    _concurrent_edits(app, app.extensions["workbench.engine"], world, rec.id)


def test_concurrent_transitions_on_sqlite_exactly_one(app, db, world, rec):
    _concurrent_transitions(app, app.extensions["workbench.engine"], world, rec.id)


def _pg_record(pg_app, pg_world):
    engine = pg_app.extensions["workbench.engine"]
    with pg_app.app_context(), Session(engine, expire_on_commit=False) as db:
        from workbench import library

        r = records.create(db, pg_world.acme, library.adopted(db, pg_world.acme, "kitchen-sink"), dict(DATA),
                           pg_world.users["member"])
        db.commit()
        return r.id


@pytest.mark.postgres
def test_concurrent_edits_on_postgres_one_wins_the_rest_409(pg_app, pg_world):
    _concurrent_edits(pg_app, pg_app.extensions["workbench.engine"], pg_world, _pg_record(pg_app, pg_world))


@pytest.mark.postgres
def test_concurrent_transitions_on_postgres_exactly_one(pg_app, pg_world):
    _concurrent_transitions(pg_app, pg_app.extensions["workbench.engine"], pg_world, _pg_record(pg_app, pg_world))


def test_concurrent_service_transitions_without_a_form_base(app, db, world, rec):
    """Callers that do not pass what they saw (bulk signing, CLI) are protected by the compare-and-set too."""
    engine = app.extensions["workbench.engine"]

    def click(_i):
        with app.test_request_context(), Session(engine, expire_on_commit=False) as s:
            r = s.get(Record, rec.id)
            try:
                service.transition(s, r, "submit", world.users["member"], {"member"})
                s.commit()
                return "ok"
            except UserError as e:
                s.rollback()
                return e.status

    results = _race(app, 8, click)
    assert results.count("ok") == 1 and all(r in ("ok", 409, 422) for r in results), results
    db.expire_all()
    assert len(_events(db, rec, "transition")) == 1 and trail.verify(db, world.acme.id).ok


# --- signatures bound to the revision (#9.1) ------------------------------------------------------------------


def test_signature_is_bound_to_the_revision_it_signed(app, db, world, rec, client_for):
    _signed(app, db, world, rec)
    [sign] = _events(db, rec, "sign")
    rev2 = db.exec(select(Revision).where(Revision.record_id == rec.id, Revision.number == 2)).one()
    sig = sign.detail["signature"]
    assert sig["revision"] == 2 and sig["digest"] == rev2.digest == sign.data_digest
    assert sig["signer"] == world.users["manager"].name and sig["meaning"]["en"] == "Release approval"
    [s] = signatures.of_record(db, rec).signatures
    assert (s.revision, s.status, s.signer) == (2, signatures.VALID, world.users["manager"].name)
    page = client_for("member").get(f"/o/acme/r/{rec.id}?lang=en").get_data(as_text=True)
    assert 'id="signatures"' in page
    assert re.search(r"Signed by manager of acme \(Release approval\) at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d, revision 2", page)
    zh = client_for("member").get(f"/o/acme/r/{rec.id}?lang=zh_CN").get_data(as_text=True)
    assert "放行批准" in zh and "修订版本 2" in zh and "电子签名" in zh


def test_edit_after_signature_needs_a_reason_and_returns_the_record_for_signing(app, db, world, rec, client_for):
    _signed(app, db, world, rec)
    member = client_for("member")
    form = member.get(f"/o/acme/r/{rec.id}/edit?lang=en").get_data(as_text=True)
    assert 'id="signed-notice"' in form
    token = csrf_from(form)
    data = {**FORM, "release_by": "王芳", "csrf_token": token, "_revision": "2", "quantity": "1"}
    r = member.post(f"/o/acme/r/{rec.id}/edit", data=data)
    assert r.status_code == 422 and "f-_comment-err" in r.get_data(as_text=True)
    db.expire_all()
    assert db.get(Record, rec.id).revision == 2 and db.get(Record, rec.id).state == "released"
    assert member.post(f"/o/acme/r/{rec.id}/edit", data={**data, "_comment": "   "}).status_code == 422
    r = member.post(f"/o/acme/r/{rec.id}/edit", data={**data, "_comment": "数量录错"})
    assert r.status_code == 303
    db.expire_all()
    now = db.get(Record, rec.id)
    assert now.revision == 3 and now.state == "submitted"  # back to the state before the signed step
    edit, void = _events(db, rec)[-2:]
    assert (edit.action, void.action) == ("edit", "signature_void")
    assert void.from_state == "released" and void.to_state == "submitted" and void.comment == "数量录错"
    h = signatures.of_record(db, now)
    assert h.signatures[0].status == signatures.VOID and h.in_force == []
    assert h.edits[0].reverted and h.edits[0].signed_revision == 2 and h.edits[0].revision == 3
    assert trail.verify(db, world.acme.id).ok
    # the signer signs the new revision
    with app.test_request_context():
        workflow.take(db, now, KS, "release", world.users["manager"], {"manager"}, password=PASSWORD)
    db.commit()
    h = signatures.of_record(db, now)
    assert [(s.revision, s.status) for s in h.signatures] == [(2, "void"), (3, "valid")]
    page = member.get(f"/o/acme/r/{rec.id}?lang=en").get_data(as_text=True)
    assert "no longer counts" in page and "valid for the current revision" in page


def test_returning_a_record_before_its_signature_makes_editing_ordinary_again(app, db, world):
    body = copy.deepcopy(KS)
    body["workflow"]["transitions"].append({"name": "reopen", "from": ["released"], "to": "draft",
                                            "label": {"zh": "重开", "en": "Reopen"}, "roles": ["manager"]})
    tpl = world.add_template(body, world.acme)
    with app.test_request_context():
        rec = records.create(db, world.acme, tpl, dict(DATA), world.users["member"])
        workflow.take(db, rec, body, "submit", world.users["member"], {"member"})
        records.edit(db, rec, tpl, dict(rec.data, release_by="王芳"), world.users["member"])
        workflow.take(db, rec, body, "release", world.users["manager"], {"manager"}, password=PASSWORD)
        workflow.take(db, rec, body, "reopen", world.users["manager"], {"manager"})
        assert records.edit(db, rec, tpl, dict(rec.data, quantity=3), world.users["member"])  # no reason needed
        db.commit()
    assert rec.state == "draft" and signatures.of_record(db, rec).signatures[0].status == signatures.SUPERSEDED
    assert signatures.edited_after_signature(db, world.acme.id) == {}
    with app.test_request_context():  # signed again after the rework: bound again
        workflow.take(db, rec, body, "submit", world.users["member"], {"member"})
        workflow.take(db, rec, body, "release", world.users["manager"], {"manager"}, password=PASSWORD)
        db.commit()
        [second] = signatures.of_record(db, rec).in_force
        assert second.revision == rec.revision == 3
        with pytest.raises(UserError) as err:
            records.edit(db, rec, tpl, dict(rec.data, quantity=4), world.users["member"])
        assert err.value.field == "_comment"


def test_locked_states_refuse_every_edit(app, db, world, client_for):
    body = copy.deepcopy(KS)
    body["workflow"]["locked"] = ["released"]
    tpl = world.add_template(body, world.acme)
    with app.app_context():
        rec = records.create(db, world.acme, tpl, dict(DATA, release_by="王芳"), world.users["member"])
        db.commit()
    with app.test_request_context():
        workflow.take(db, rec, body, "submit", world.users["member"], {"member"})
        workflow.take(db, rec, body, "release", world.users["manager"], {"manager"}, password=PASSWORD)
        db.commit()
        with pytest.raises(Conflict):
            records.edit(db, rec, tpl, dict(rec.data, quantity=2), world.users["member"], comment="x")
    member = client_for("member")
    page = member.get(f"/o/acme/r/{rec.id}").get_data(as_text=True)
    assert 'id="record-locked"' in page and f"/o/acme/r/{rec.id}/edit" not in page
    assert member.get(f"/o/acme/r/{rec.id}/edit").status_code == 409
    r = member.post(f"/o/acme/r/{rec.id}/edit", data={**FORM, "csrf_token": csrf_from(page), "quantity": "2",
                                                     "_comment": "x", "_revision": str(rec.revision)})
    assert r.status_code == 409
    db.expire_all()
    assert db.get(Record, rec.id).revision == 1


def test_locked_must_name_known_states():
    from workbench.templates import validate_template

    body = copy.deepcopy(KS)
    body["workflow"]["locked"] = ["released"]
    assert validate_template(body) == []
    body["workflow"]["locked"] = ["gone"]
    assert [(e.path, e.message) for e in validate_template(body)] == [("$.workflow.locked[0]", "unknown state 'gone'")]
    body["workflow"]["locked"] = "released"
    assert validate_template(body)


# --- the auditor's view of edits after signature --------------------------------------------------------------


def _legacy_edit(db, rec, tpl, data, user):
    """An edit as the code before this change stored it: new revision, no reason, the signed state kept."""
    from workbench.models import utcnow

    number = rec.revision + 1
    dig = trail.digest(data)
    db.add(Revision(record_id=rec.id, number=number, data=data, digest=dig, created_at=utcnow(), created_by=user.id))
    rec.data, rec.revision = data, number
    db.add(rec)
    trail.append(db, rec.org_id, "edit", record_id=rec.id, actor=user, data_digest=dig,
                 detail={"revision": number, "changed": ["quantity"]})
    db.commit()


def _engagement(db, world):
    """An open surveillance engagement over 2025–2026 with acme's auditor on its team."""
    from datetime import timedelta

    from workbench.audit import service as audit
    from workbench.models import utcnow

    eng = audit.create_engagement(db, world.acme, world.users["manager"], title="监督审核", audit_body="CB",
                                  standards=["ISO 9001:2015"], audit_type="surveillance",
                                  period_start=date(2025, 1, 1), period_end=date(2026, 12, 31),
                                  scope_processes=[], scope_clauses=[], access_from=utcnow() - timedelta(days=1),
                                  access_until=utcnow() + timedelta(days=30))
    audit.add_auditor(db, eng, world.users["auditor"].email, world.users["manager"])
    db.commit()
    return eng


def test_auditor_sees_edits_after_signature_flagged_with_the_diff(app, db, world, rec, client_for):
    from workbench.audit import readiness, sampling

    _signed(app, db, world, rec)
    with app.test_request_context():
        records.edit(db, rec, _tpl(db, rec), dict(rec.data, quantity=1), world.users["member"], comment="数量录错")
        other = records.create(db, world.acme, _tpl(db, rec), dict(DATA, batch_no="B2"), world.users["member"])
        db.commit()
        eng = _engagement(db, world)
    page = client_for("auditor").get(f"/o/acme/audit/e/{eng.id}/r/{rec.id}?lang=en").get_data(as_text=True)
    flag = page[page.index('id="edited-after-signature"'):]
    flag = flag[:flag.index("</table>")]
    assert "Edited after signature" in flag and "数量录错" in flag
    assert re.search(r"<td class=\"before\">10</td><td class=\"after\">1</td>", flag)
    assert 'id="edited-after-signature"' not in client_for("auditor").get(
        f"/o/acme/audit/e/{eng.id}/r/{other.id}").get_data(as_text=True)
    # the population can be limited to such records
    pop = sampling.population(db, world.acme.id, {"start": "2025-01-01", "end": "2026-12-31",
                                                  "edited_after_signature": True})
    assert pop.ids == [rec.id]
    # readiness counts them: returned for signing -> warn
    with app.test_request_context():
        rd = readiness.check(db, world.acme, date(2025, 1, 1), date(2026, 12, 31))
        [item] = [i for i in rd.items if i.check == "signatures"]
        assert item.status == readiness.WARN and [r.id for r in item.records] == [rec.id] and "1" in item.message
        # an edit stored the old way (signed state kept, no reason) fails readiness
        other_signed = _signed(app, db, world, other)
        _legacy_edit(db, other_signed, _tpl(db, other), dict(other_signed.data, quantity=5), world.users["member"])
        rd = readiness.check(db, world.acme, date(2025, 1, 1), date(2026, 12, 31))
        [item] = [i for i in rd.items if i.check == "signatures"]
        assert item.status == readiness.FAIL and [r.id for r in item.records] == [other.id]
        assert not rd.passed
    assert trail.verify(db, world.acme.id).ok
    page = client_for("auditor").get(f"/o/acme/audit/e/{eng.id}/r/{other.id}?lang=en").get_data(as_text=True)
    assert "never signed" in page


def test_sample_form_can_filter_to_edits_after_signature(app, db, world, rec, client_for):
    from workbench.audit.models import Sample

    _signed(app, db, world, rec)
    with app.test_request_context():
        records.edit(db, rec, _tpl(db, rec), dict(rec.data, quantity=1), world.users["member"], comment="改")
        for i in range(3):
            records.create(db, world.acme, _tpl(db, rec), dict(DATA, batch_no=f"X{i}"), world.users["member"])
        eng = _engagement(db, world)
    auditor = client_for("auditor")
    form = auditor.get(f"/o/acme/audit/e/{eng.id}/samples/new").get_data(as_text=True)
    assert 'name="edited_after_signature"' in form
    r = auditor.post(f"/o/acme/audit/e/{eng.id}/samples/new", data={
        "csrf_token": csrf_from(form), "start": "2025-01-01", "end": "2026-12-31", "kind": "fixed", "n": "5",
        "edited_after_signature": "1"})
    assert r.status_code == 303, r.get_data(as_text=True)[:500]
    s = db.exec(select(Sample)).one()
    assert frame_of(db, s)[0] == [rec.id] and s.definition["edited_after_signature"] is True
    page = auditor.get(r.headers["Location"]).get_data(as_text=True)
    assert "signed-edit-chip" in page


# --- "done" per template version (#9.6) -----------------------------------------------------------------------


def test_adopting_a_version_with_a_new_final_state_keeps_old_records_done(app, db, world):
    v1 = dict(copy.deepcopy(KS), key="drill", schedule={"every_months": 6, "date_field": "inspected_on"})
    tpl1 = world.add_template(v1, world.acme)
    with app.test_request_context():
        rec = records.create(db, world.acme, tpl1, dict(DATA, inspected_on="2026-05-01", release_by="王芳"),
                             world.users["member"])
        workflow.take(db, rec, v1, "submit", world.users["member"], {"member"})
        workflow.take(db, rec, v1, "release", world.users["manager"], {"manager"}, password=PASSWORD)
        db.commit()
    today = date(2026, 8, 1)
    [item] = schedules.due_items(db, world.acme, today)
    assert item.status == "done" and item.last_record.id == rec.id
    # v2: "released" is no longer final; a review step ends the workflow
    v2 = copy.deepcopy(v1)
    v2["version"] = 2
    v2["workflow"]["states"]["released"].pop("final")
    v2["workflow"]["states"]["reviewed"] = {"label": {"zh": "已复核", "en": "Reviewed"}, "final": True}
    v2["workflow"]["transitions"].append({"name": "review", "from": ["released"], "to": "reviewed",
                                          "label": {"zh": "复核", "en": "Review"}, "roles": ["manager"]})
    world.add_template(v2, world.acme)
    [item] = schedules.due_items(db, world.acme, today)
    assert item.status == "done" and item.last_record.id == rec.id, "the old record stays done"
    client = app.test_client()
    login(client, world.users["manager"].email)
    assert client.get("/o/acme/").status_code == 200


# --- property: whatever people do, a signature in force is on the current revision ------------------------------

REOPENABLE = copy.deepcopy(KS)
REOPENABLE["key"] = "ks-reopen"
REOPENABLE["workflow"]["transitions"].append({"name": "reopen", "from": ["released"], "to": "draft",
                                              "label": {"zh": "重开", "en": "Reopen"}, "roles": ["manager"]})


def test_signatures_in_force_always_cover_the_current_revision(app, db, world):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    tpl = world.add_template(REOPENABLE, world.acme)
    ops = st.lists(st.sampled_from(["edit", "submit", "return", "release", "reopen"]), min_size=1, max_size=10)

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    @given(ops=ops)
    def run(ops):
        with app.test_request_context():
            rec = records.create(db, world.acme, tpl, dict(DATA, release_by="王芳"), world.users["member"])
            db.commit()
            for i, op in enumerate(ops):
                try:
                    if op == "edit":
                        records.edit(db, rec, tpl, dict(rec.data, quantity=i + 100), world.users["member"],
                                     comment="改" if signatures.of_record(db, rec).in_force else "")
                    else:
                        role = "member" if op == "submit" else "manager"
                        workflow.take(db, rec, REOPENABLE, op, world.users[role], {role}, comment="x", password=PASSWORD)
                    db.commit()
                except UserError:
                    db.rollback()
                    db.refresh(rec)
                h = signatures.of_record(db, rec)
                assert all(s.revision == rec.revision for s in h.in_force), (ops, h)
                assert not h.unsigned_in_signed_state
                if rec.state == "released":  # the signed state always rests on a signature of what is shown
                    assert h.in_force and h.in_force[-1].digest == trail.digest(rec.data)
        assert trail.verify(db, world.acme.id).ok

    run()


def test_an_edit_with_a_new_file_replaces_the_reference_and_chains_it(app, db, world, rec, client_for):
    import io

    from workbench.models import Attachment

    pdf = b"%PDF-1.4\n% new certificate\n%%EOF\n"
    c = client_for("member")
    token = csrf_from(c.get(f"/o/acme/r/{rec.id}/edit").get_data(as_text=True))
    r = c.post(f"/o/acme/r/{rec.id}/edit", content_type="multipart/form-data", data={
        **FORM, "csrf_token": token, "_revision": "1", "certificate.__file": (io.BytesIO(pdf), "证书.pdf")})
    assert r.status_code == 303
    db.expire_all()
    att = db.exec(select(Attachment)).one()
    now = db.get(Record, rec.id)
    assert now.revision == 2 and now.data["certificate"] == f"att:{att.id}/证书.pdf" and att.record_id == rec.id
    [ev] = _events(db, rec, "attach")
    assert ev.data_digest == att.sha256 and trail.verify(db, world.acme.id).ok
